import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

/** Probe /healthz with a short timeout: a wedged process accepts the connection but never answers. */
async function healthz(port: number): Promise<number | 'no answer'> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.status;
  } catch {
    return 'no answer';
  }
}

describe('worker registry', () => {
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'registry' });
  });
  afterAll(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGCONT');
        p.child.kill('SIGKILL');
      }
    }
    await stack.stop();
  });

  const listed = async () => (await stack.api('GET', '/agent/workers', undefined, { token: TOKENS.ops })).body.workers as Array<Record<string, any>>;

  it('lists a live worker with its details, counts it in queue stats, and drops it once its event loop is wedged', async () => {
    const w = spawnWorker({ ...stack.env, LOG_LEVEL: 'info' });
    procs.push(w);
    const port = await waitFor(() => Number(/"port":(\d+),"msg":"worker health/.exec(w.output())?.[1]) || 0, { label: 'the worker health port in its log', timeoutMs: 15_000 });
    const mine = await waitFor(async () => (await listed()).find((x) => x.pid === w.child.pid), { label: 'the worker in GET /agent/workers', timeoutMs: 15_000 });
    expect(mine).toMatchObject({ concurrency: 4, active_runs: 0, version: expect.any(String), host: expect.any(String) });
    expect(Date.parse(mine.last_seen)).toBeGreaterThanOrEqual(Date.parse(mine.started_at));
    expect((await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body.workers).toBe(1);
    expect(await healthz(port)).toBe(200);

    w.child.kill('SIGSTOP'); // as good as an event loop that never yields
    await waitFor(async () => !(await listed()).some((x) => x.pid === w.child.pid), { label: 'the wedged worker to leave the list', timeoutMs: 10_000 });
    expect(await healthz(port)).toBe('no answer');
    expect((await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body.workers).toBe(0);
    w.child.kill('SIGCONT');
    w.child.kill('SIGKILL');
  });

  it('removes a worker at once when it stops on SIGTERM', async () => {
    const w = spawnWorker(stack.env);
    procs.push(w);
    await waitFor(async () => (await listed()).some((x) => x.pid === w.child.pid), { label: 'the worker to register', timeoutMs: 15_000 });
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect((await listed()).some((x) => x.pid === w.child.pid)).toBe(false);
  });
});
