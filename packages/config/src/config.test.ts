import { ConfigError, loadConfig, parseApiKeys } from './config';

describe('loadConfig', () => {
  it('fills defaults and parses API_KEYS into tenants, tokens and admin flags', () => {
    const c = loadConfig({ API_KEYS: 'acme:tok_acme_123,ops:tok_ops_1234:admin' });
    expect(c.KEY_PREFIX).toBe('ay:');
    expect(c.QUEUE_NAME).toBe('agent-runs');
    expect(c.WORKSPACE_DRIVER).toBe('fs');
    expect(c.S3_FORCE_PATH_STYLE).toBe(true);
    expect(c.API_KEYS).toEqual([
      { tenant: 'acme', token: 'tok_acme_123', admin: false },
      { tenant: 'ops', token: 'tok_ops_1234', admin: true },
    ]);
    expect(c.secrets).toEqual(['tok_acme_123', 'tok_ops_1234']);
  });

  it('accepts port 0 (any free port) for API_PORT and WORKER_METRICS_PORT, and names a port out of range', () => {
    expect(loadConfig({ API_PORT: '0', WORKER_METRICS_PORT: '0' })).toMatchObject({ API_PORT: 0, WORKER_METRICS_PORT: 0 });
    expect(() => loadConfig({ WORKER_METRICS_PORT: '70000' })).toThrow(/WORKER_METRICS_PORT/);
  });

  it('treats the password inside REDIS_URL as a secret', () => {
    expect(loadConfig({ REDIS_URL: 'redis://:p%40ss_word@redis:6379' }).secrets).toContain('p@ss_word');
  });

  it('reads booleans as words, so S3_FORCE_PATH_STYLE=false is false', () => {
    expect(loadConfig({ S3_FORCE_PATH_STYLE: 'false' }).S3_FORCE_PATH_STYLE).toBe(false);
  });

  it('names every bad variable at once and never echoes a token', () => {
    let err: unknown;
    try {
      loadConfig({ REDIS_URL: 'not a url', WORKER_CONCURRENCY: 'many', WORKSPACE_DRIVER: 's3', API_KEYS: 'acme:short' }, { requireApiKeys: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    for (const name of ['REDIS_URL', 'WORKER_CONCURRENCY']) expect(message).toContain(name);
    expect(message).not.toContain('short');
  });

  it('requires the S3 settings with WORKSPACE_DRIVER=s3', () => {
    expect(() => loadConfig({ WORKSPACE_DRIVER: 's3' })).toThrow(/S3_BUCKET: required when WORKSPACE_DRIVER=s3/);
  });

  it('refuses EXECUTOR=k8s on the filesystem workspace, naming both, and takes it with S3', () => {
    expect(() => loadConfig({ EXECUTOR: 'k8s' })).toThrow(/EXECUTOR: k8s .* needs WORKSPACE_DRIVER=s3/);
    const s3 = { WORKSPACE_DRIVER: 's3', S3_BUCKET: 'bucket', S3_ACCESS_KEY: 'k', S3_SECRET_KEY: 's' };
    expect(loadConfig({ ...s3, EXECUTOR: 'k8s' }).EXECUTOR).toBe('k8s');
    expect(loadConfig({ EXECUTOR: 'local' }).EXECUTOR).toBe('local');
    expect(() => loadConfig({ EXECUTOR: 'docker' })).toThrow(/EXECUTOR/);
  });

  it('requires API_KEYS only where asked (the API), not for the worker', () => {
    expect(() => loadConfig({}, { requireApiKeys: true })).toThrow(/API_KEYS: required/);
    expect(loadConfig({}).API_KEYS).toEqual([]);
  });
});

describe('parseApiKeys', () => {
  it.each([
    ['acme', /expected tenant:token/],
    ['acme:tok_acme_1:root', /expected tenant:token/],
    ['Acme!:tok_acme_1', /tenant "Acme!"/],
    ['acme:tok_acme_1,globex:tok_acme_1', /a token is used twice/],
  ])('rejects %s', (raw, message) => {
    expect(() => parseApiKeys(raw)).toThrow(message);
  });
});
