import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../helpers/global-setup';
import { hasRedisServer, startPrivateRedis, type PrivateRedis } from '../helpers/private-redis';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker } from '../helpers/worker-process';

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');
const DRAIN_S = 1;
/** What the issue promises: the drain time plus a few seconds, whatever Redis does. */
const BOUND_MS = (DRAIN_S + 5) * 1000;

// scripts/test installs redis-server, so CI always runs this; a bare `jest` without it says so.
const describeWithRedis = hasRedisServer ? describe : describe.skip;

/**
 * SIGTERM while Redis is gone, in both ways it can be gone: killed (connections refused) and
 * stopped (SIGSTOP: sockets open, nothing answers). The built processes must exit within
 * their drain time plus a few seconds and say what they could not hand back; before, a
 * worker waited for Redis forever and a CI cleanup hung until its limit.
 */
describeWithRedis.each([
  ['killed (connections refused)', 'kill'],
  ['stopped (SIGSTOP: nothing answers)', 'freeze'],
] as const)('SIGTERM while Redis is %s', (_label, outage) => {
  let redis: PrivateRedis;
  let stack: Stack;
  const children: ChildProcess[] = [];
  const takeDown = async () => (outage === 'kill' ? redis.kill() : redis.freeze());
  const exitAfterSigterm = async (child: ChildProcess) => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const timedOut = new Promise<'still running'>((r) => setTimeout(() => r('still running'), BOUND_MS + 5000).unref());
    const code = await Promise.race([exited, timedOut]);
    return { code, ms: Date.now() - t0 };
  };

  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startStack({ label: `shutdown-${outage}`, env: { REDIS_URL: redis.url } });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await redis.revive();
  });
  afterAll(async () => {
    await stack.stop();
    await redis.stop();
  });

  it(`the worker exits within WORKER_DRAIN_S + 5 s, naming the run it could not hand back`, async () => {
    const worker = spawnWorker({ ...stack.env, WORKER_DRAIN_S: String(DRAIN_S), LOG_LEVEL: 'info' });
    children.push(worker.child);
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ id: 'long', tool: 'wait', args: { seconds: 60 } }] });
    const runId: string = body.run_id;
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${runId}`)).body.steps?.[0]?.status === 'running', {
      label: 'the wait step to run on the worker process',
      timeoutMs: 20_000,
    });

    await takeDown();
    const { code, ms } = await exitAfterSigterm(worker.child);
    expect(code).not.toBe('still running');
    expect(ms).toBeLessThan(BOUND_MS);
    expect(worker.output()).toMatch(new RegExp(`could not hand back[^\\n]*${runId}`));
    expect(code).toBe(1);
  });

  it(`the API exits within API_DRAIN_S + 5 s, naming the connections it could not close cleanly`, async () => {
    const port = await freePort();
    const api = spawn(process.execPath, [API_ENTRY], {
      env: { PATH: process.env.PATH ?? '', ...stack.env, API_PORT: String(port), API_DRAIN_S: String(DRAIN_S), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(api);
    let output = '';
    api.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    api.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true, { label: 'the api to be ready' });
    const { body } = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'followed' } }] });
    // A live SSE stream holds the shared subscriber, and a request is in flight when Redis goes.
    const stream = await fetch(`http://127.0.0.1:${port}/agent/logs/${body.run_id}/stream`, { headers: { Authorization: `Bearer ${TOKENS.acme}` } });
    expect(stream.status).toBe(200);

    await takeDown();
    void fetch(`http://127.0.0.1:${port}/agent/runs/${body.run_id}`, { headers: { Authorization: `Bearer ${TOKENS.acme}` } }).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    const { code, ms } = await exitAfterSigterm(api);
    void stream.body?.cancel().catch(() => undefined);
    expect(code).not.toBe('still running');
    expect(ms).toBeLessThan(BOUND_MS);
    if (outage === 'freeze') {
      // QUIT is never answered: the connections are dropped, named, and the exit says so.
      expect(output).toMatch(/could not close cleanly[^\n]*redis/i);
      expect(code).toBe(1);
    } else {
      // A refused Redis ends QUIT at once: nothing is left open, so nothing is reported.
      expect(output).not.toContain('could not close cleanly');
      expect(output).toContain('api stopped');
      expect(code).toBe(0);
    }
  });
});
