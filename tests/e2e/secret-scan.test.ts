import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import { SignJWT } from 'jose';
import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { freePort } from '../helpers/global-setup';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis';
import { uniqueQueueName } from '../helpers/redis';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

// s3rver has no options for credentials; its account registry is how it learns a key pair.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');
const secret = (label: string) => `${label}_${randomBytes(12).toString('hex')}`;

/**
 * The whole stack as real processes at LOG_LEVEL=debug (API, worker), on the S3 driver (an
 * s3rver of this file's own, with a secret key of its own) and a Redis with a password, with a model behind an API key,
 * API keys in clear and as a digest, an HS256 JWT, a stream ticket and a session. Every line
 * every process writes is captured; none may contain a secret, whatever the request did with it
 * (including putting it where it does not belong: the URL, a bad header).
 */
describe('no secret reaches any log of a full stack at LOG_LEVEL=debug', () => {
  const S = {
    apiKey: secret('tok_acme'),
    digestKey: secret('tok_globex'),
    jwtSecret: secret('jwt_secret_at_least_32_characters'),
    s3Secret: secret('s3secret'),
    llmKey: secret('sk_model'),
    redisPassword: secret('redispw'),
  };
  const s3Access = `AKID${randomBytes(6).toString('hex').toUpperCase()}`;
  let jwt: string;
  let ticket: string;
  let redis: PrivateRedis;
  let model: FakeModel;
  let s3: { run(): Promise<unknown>; close(): Promise<void> };
  let s3dir: string;
  let api: ChildProcess;
  let worker: WorkerProcess;
  let apiOut = '';
  let baseUrl: string;
  const modelAuth: string[] = [];

  beforeAll(async () => {
    // A Redis of this file's own, with a password (in REDIS_URL, as managed Redis hands it out).
    redis = await startPrivateRedis({ password: S.redisPassword });
    model = await startFakeModel();
    s3dir = mkdtempSync(join(tmpdir(), 'ay-secret-s3-'));
    DUMMY_ACCOUNT.createKeyPair(s3Access, S.s3Secret);
    const s3Port = await freePort();
    s3 = new S3rver({ port: s3Port, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: 'secrets' }] });
    await s3.run();
    const env: Record<string, string> = {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'ay:',
      QUEUE_NAME: uniqueQueueName('secrets'),
      API_KEYS: `acme:${S.apiKey},globex:sha256:${createHash('sha256').update(S.digestKey).digest('hex')}`,
      JWT_SECRET: S.jwtSecret,
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'agentyard',
      WORKSPACE_DRIVER: 's3',
      S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
      S3_BUCKET: 'secrets',
      S3_ACCESS_KEY: s3Access,
      S3_SECRET_KEY: S.s3Secret,
      S3_FORCE_PATH_STYLE: 'true',
      LLM_BASE_URL: model.url,
      LLM_API_KEY: S.llmKey,
      LLM_MODEL: 'test-model',
      LOG_LEVEL: 'debug',
      WORKER_HEARTBEAT_MS: '500',
      RETRY_BACKOFF_MS: '100',
    };
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [API_ENTRY], { env: { PATH: process.env.PATH ?? '', ...env, API_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    api.stdout!.on('data', (d: Buffer) => (apiOut += d.toString()));
    api.stderr!.on('data', (d: Buffer) => (apiOut += d.toString()));
    worker = spawnWorker(env);
    await waitFor(async () => (await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.ok === true, { label: 'the api to be ready', timeoutMs: 20_000 });
    jwt = await new SignJWT({ tenant: 'acme', scope: 'runs:read runs:write sessions:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.test')
      .setAudience('agentyard')
      .setSubject('alice@example.com')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(S.jwtSecret));
  }, 60_000);

  afterAll(async () => {
    for (const p of [api, worker?.child]) if (p && p.exitCode === null) p.kill('SIGKILL');
    await model.close();
    await s3.close();
    DUMMY_ACCOUNT.revokeAccessKey(s3Access);
    rmSync(s3dir, { recursive: true, force: true });
    await redis.stop();
  });

  const call = async (method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const waitRun = (id: string, token: string) =>
    waitFor(async () => {
      const r = await call('GET', `/agent/runs/${id}`, token);
      return ['succeeded', 'dead_lettered', 'failed'].includes(r.body.status) ? r.body : undefined;
    }, { label: `run ${id} to finish`, timeoutMs: 30_000 });

  it('runs a model run, file steps on S3, a ticketed stream and a session, then finds no secret in any output', async () => {
    // A model run with the API key: the model is called with LLM_API_KEY and writes to S3.
    model.fallback = () => ({ content: 'done' });
    model.script(
      { toolCalls: [{ name: 'fs.write', arguments: { path: 'model.txt', content: 'from the model' } }] },
      { toolCalls: [{ name: 'fs.read', arguments: { path: 'model.txt' } }] },
      { content: 'All written.' },
    );
    const modelRun = await call('POST', '/agent/execute', S.apiKey, { action: 'create', prompt: 'write a file', start: true });
    expect(modelRun.status).toBe(201);
    expect((await waitRun(modelRun.body.run_id, S.apiKey)).status).toBe('succeeded');
    expect(model.requests.length).toBeGreaterThanOrEqual(3);

    // A model endpoint that quotes the key back in its refusal, as OpenAI's does: the run fails,
    // and neither its stored error (which the tenant reads) nor any log line holds the key.
    model.script({ status: 401, body: { error: { message: `Incorrect API key provided: ${S.llmKey}. You can find your API key at https://example.test`, type: 'invalid_request_error' } } });
    const refused = await call('POST', '/agent/execute', S.apiKey, { action: 'create', prompt: 'this one fails', start: true, options: { max_attempts: 1 } });
    const failed = await waitRun(refused.body.run_id, S.apiKey);
    expect(failed.status).toBe('dead_lettered');
    expect(JSON.stringify(failed)).not.toContain(S.llmKey);
    const history = await call('GET', `/agent/logs/${refused.body.run_id}`, S.apiKey);
    expect(JSON.stringify(history.body)).not.toContain(S.llmKey);

    // A static plan with the JWT, and its file read back through the API (S3 underneath).
    const plan = await call('POST', '/agent/execute', jwt, { action: 'create', start: true, steps: [{ id: 'w', tool: 'fs.write', args: { path: 'plan.txt', content: 'planned' } }, { tool: 'fs.read', args: { path: 'plan.txt' }, needs: ['w'] }] });
    expect(plan.status).toBe(201);
    expect((await waitRun(plan.body.run_id, jwt)).status).toBe('succeeded');
    expect((await fetch(`${baseUrl}/agent/runs/${plan.body.run_id}/files/plan.txt`, { headers: { Authorization: `Bearer ${jwt}` } }).then((r) => r.text()))).toBe('planned');

    // The digest key's tenant.
    expect((await call('GET', '/agent/runs', S.digestKey)).status).toBe(200);

    // A stream ticket, used by a real EventSource in the URL, replaying to the end.
    const t = await call('POST', `/agent/runs/${modelRun.body.run_id}/stream-token`, S.apiKey);
    expect(t.status).toBe(201);
    ticket = t.body.token;
    expect(typeof ticket).toBe('string');
    const types: string[] = [];
    const es = new EventSource(`${baseUrl}/agent/logs/${modelRun.body.run_id}/stream?access_token=${encodeURIComponent(ticket)}`);
    await new Promise<void>((resolve, reject) => {
      es.addEventListener('end', () => {
        types.push('end');
        es.close();
        resolve();
      });
      es.addEventListener('step', () => types.push('step'));
      es.onerror = (e) => {
        es.close();
        reject(new Error(`stream failed: ${String((e as { message?: string }).message)}`));
      };
    });
    expect(types).toContain('end');

    // A session and one invocation executed by the worker.
    const session = await call('POST', '/v1/sessions', jwt, { approval: 'never', metadata: { purpose: 'secret scan' } });
    expect(session.status).toBe(201);
    const inv = await call('POST', `/v1/sessions/${session.body.session.id}/tools/fs.write/invoke`, jwt, { args: { path: 's.txt', content: 'from a session' } });
    expect(inv.status).toBe(200);
    expect(inv.body.invocation.status).toBe('succeeded');

    // Credentials where they do not belong: refused, and still never logged.
    for (const q of [`access_token=${S.apiKey}`, `access%5Ftoken=${S.apiKey}`, `%61ccess_token=${jwt}`, `access_token[]=${S.digestKey}`, `token=${S.jwtSecret}`]) {
      expect((await fetch(`${baseUrl}/agent/logs/${modelRun.body.run_id}/stream?${q}`)).status).toBe(401);
    }
    expect((await call('GET', '/agent/runs', `${S.apiKey}x`)).status).toBe(401);
    expect((await call('GET', '/agent/runs', undefined, undefined, { Authorization: `Basic ${S.apiKey}` })).status).toBe(401);
    expect((await call('GET', '/agent/runs', S.jwtSecret)).status).toBe(401);

    // Stop both processes the way an orchestrator does, so every buffered line is written.
    const apiExit = new Promise((r) => api.once('exit', r));
    api.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    await Promise.all([apiExit, worker.exited]);

    const outputs = { api: apiOut, worker: worker.output() };
    for (const [name, out] of Object.entries(outputs)) {
      const found = Object.entries({ ...S, jwt, ticket }).filter(([, v]) => out.includes(v)).map(([k]) => k);
      expect({ name, found }).toEqual({ name, found: [] });
    }
    // The logs really saw the traffic, the model's refusal included (the key cut out of it).
    expect(worker.output()).toContain('Incorrect API key provided: [redacted]');
    expect(apiOut).toContain('/stream-token');
    expect(apiOut).toContain('access_token=[redacted]');
    expect(worker.output()).toContain(modelRun.body.run_id);
  }, 120_000);
});
