import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '../helpers/global-setup';
import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

/**
 * A Redis of this test's own (AOF on, so a restart keeps everything), stopped and started
 * again under a running stack: the outage the runbook says workers ride out.
 */
const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
// scripts/test installs redis-server, so CI always runs this; a bare `jest` without it says so.
const describeWithRedis = hasRedisServer ? describe : describe.skip;

describeWithRedis('a Redis outage under a running stack', () => {
  let port: number;
  let dir: string;
  let server: ChildProcess | undefined;
  let stack: Stack;
  let worker: WorkerProcess;

  const startRedis = async () => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => {
        const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      { label: 'redis-server to answer', timeoutMs: 10_000 },
    );
  };
  const stopRedis = async () => {
    const s = server!;
    const gone = new Promise((r) => s.once('exit', r));
    s.kill('SIGKILL');
    await gone;
  };

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'ay-outage-redis-'));
    await startRedis();
    stack = await startStack({ label: 'outage', env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    worker = spawnWorker(stack.env);
  });
  afterAll(async () => {
    if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await stack.stop();
    if (server && server.exitCode === null) await stopRedis();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 while Redis is gone, then finishes the run it was running, each finished step once, with a complete stream', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'before', tool: 'fs.write', args: { path: 'before.txt', content: 'once' } },
        { id: 'long', tool: 'wait', args: { seconds: 2 }, needs: ['before'] },
        { id: 'after', tool: 'fs.write', args: { path: 'after.txt', content: 'done' }, needs: ['long'] },
      ],
    });
    const runId: string = body.run_id;
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme });
    await sse.waitFor((e) => e.event === 'step' && e.data.step_id === 'long' && e.data.phase === 'started', 'the wait step to start', 20_000);

    await stopRedis();
    const during = await stack.api('GET', `/agent/runs/${runId}`);
    expect(during.status).toBe(503);
    expect(during.body.error.code).toBe('unavailable');
    const ready = await stack.api('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toContain('redis');
    // Longer than the test stack's 3 s job lock, so the lock is gone when Redis returns.
    await new Promise((r) => setTimeout(r, 4000));
    await startRedis();

    const run = await stack.waitForStatus(runId, ['succeeded', 'dead_lettered', 'failed'], 45_000);
    expect(run.status).toBe('succeeded');
    const byId = Object.fromEntries(run.steps.map((s: { id: string; attempts: number; status: string }) => [s.id, s]));
    expect(byId.before).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(byId.after).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect((await stack.api('GET', `/agent/runs/${runId}/files/after.txt`)).body).toBe('done');

    // The stream that was open across the outage, resumed from its last id, misses nothing.
    await sse.closed.catch(() => undefined);
    const lastSeen = sse.events.filter((e) => e.id).at(-1)?.id;
    const rest = lastSeen && sse.events.at(-1)?.event !== 'end' ? await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme, lastEventId: lastSeen }) : undefined;
    if (rest) await rest.closed;
    const seqs = [...sse.events, ...(rest?.events ?? [])].filter((e) => e.data && typeof e.data.seq === 'number').map((e) => e.data.seq as number);
    const history = (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events as Array<{ seq: number }>;
    expect(seqs).toEqual(history.map((e) => e.seq));
    expect(history.map((e) => e.seq)).toEqual(history.map((_, i) => i + 1));

    // The worker is still serving: a new run goes through.
    const next = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'after the outage' } }] });
    expect((await stack.waitForStatus(next.body.run_id, ['succeeded', 'dead_lettered'], 20_000)).status).toBe('succeeded');
    expect(worker.child.exitCode).toBeNull();
  });
});
