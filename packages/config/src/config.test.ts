import { ConfigError, loadConfig, parseApiKeys } from './config';

describe('loadConfig', () => {
  it('takes an API key as its sha256 digest, keeping only the digest', () => {
    const hex = 'a'.repeat(64);
    const c = loadConfig({ API_KEYS: `acme:sha256:${hex}:admin` });
    expect(c.API_KEYS).toEqual([{ tenant: 'acme', sha256: hex, admin: true }]);
    expect(() => loadConfig({ API_KEYS: 'acme:sha256:abc' })).toThrow(/64 hex digits/);
  });

  it('names the missing partner of a JWT setting, and never echoes JWT_SECRET', () => {
    const secret = 's'.repeat(40);
    expect(() => loadConfig({ JWT_SECRET: secret })).toThrow(/JWT_ISSUER: required[\s\S]*JWT_AUDIENCE: required/);
    expect(() => loadConfig({ JWT_ISSUER: 'https://idp' })).toThrow(/JWT_ISSUER: set only with JWT_SECRET or JWT_JWKS_URL/);
    expect(() => loadConfig({ JWT_SECRET: secret, JWT_JWKS_URL: 'http://x/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' })).toThrow(/not both/);
    try {
      loadConfig({ JWT_SECRET: secret });
    } catch (e) {
      expect(String(e)).not.toContain(secret);
    }
    const c = loadConfig({ JWT_SECRET: secret, JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' });
    expect(c.secrets).toContain(secret);
    expect(c).toMatchObject({ JWT_TENANT_CLAIM: 'tenant', JWT_SCOPES_CLAIM: 'scope', JWT_CLOCK_SKEW_S: 30 });
  });

  it('fills defaults and parses API_KEYS into tenants, tokens and admin flags', () => {
    const c = loadConfig({ API_KEYS: 'acme:tok_acme_123,ops:tok_ops_1234:admin' });
    expect(c.KEY_PREFIX).toBe('ay:');
    expect(c.QUEUE_NAME).toBe('agent-runs');
    expect(c.WORKSPACE_DRIVER).toBe('fs');
    expect(c.S3_FORCE_PATH_STYLE).toBe(true);
    expect(c.API_KEYS).toMatchObject([
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

  it('reads TRUST_PROXY as off, a hop count or an address list, CORS_ORIGINS as origins, API_STEP_ARGS_LIMIT as bytes, and names bad values', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({}).CORS_ORIGINS).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toBe('loopback, 10.0.0.0/8');
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:3000' }).CORS_ORIGINS).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(loadConfig({ TRUST_PROXY: 'uniquelocal,fd00::/8' }).TRUST_PROXY).toBe('uniquelocal,fd00::/8');
    for (const bad of ['everyone', '999.1.1.1', '10.0.0.0/33', 'loopback/8', '10.0.0.1,']) expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY:/);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/app' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ API_MAX_HEADER_BYTES: '10' })).toThrow(/API_MAX_HEADER_BYTES/);
    expect(loadConfig({}).API_STEP_ARGS_LIMIT).toBe(1024 * 1024);
    expect(loadConfig({ API_STEP_ARGS_LIMIT: '256kb' }).API_STEP_ARGS_LIMIT).toBe(256 * 1024);
    expect(() => loadConfig({ API_STEP_ARGS_LIMIT: 'lots' })).toThrow(/API_STEP_ARGS_LIMIT/);
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
  it('parses REDIS_SENTINELS with its master name, names a missing partner, and keeps the sentinel password out of errors', () => {
    const c = loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379,sentinel-b:26380', REDIS_SENTINEL_NAME: 'agentyard', REDIS_SENTINEL_PASSWORD: 'sentinel-secret' });
    expect(c.REDIS_SENTINELS).toEqual([{ host: '127.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }]);
    expect(c.secrets).toContain('sentinel-secret');
    expect(loadConfig({}).REDIS_SENTINELS).toBeUndefined();
    expect(() => loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379' })).toThrow(/REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set/);
    expect(() => loadConfig({ REDIS_SENTINEL_NAME: 'agentyard' })).toThrow(/REDIS_SENTINELS: required when REDIS_SENTINEL_NAME is set/);
    expect(() => loadConfig({ REDIS_SENTINELS: 's1:26379;s2', REDIS_SENTINEL_NAME: 'm' })).toThrow(/REDIS_SENTINELS: expected host:port/);
    expect(() => loadConfig({ REDIS_SENTINELS: 's1:99999', REDIS_SENTINEL_NAME: 'm' })).toThrow(/REDIS_SENTINELS: a sentinel port/);
    expect(() => loadConfig({ REDIS_SENTINEL_PASSWORD: 'sentinel-secret' })).toThrow(/REDIS_SENTINEL_PASSWORD: set only with REDIS_SENTINELS/);
  });
});
