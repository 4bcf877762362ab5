import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

/** Real worker processes from the built entrypoint; the API runs in-process. */
describe('worker processes', () => {
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'e2e-worker' });
  });
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });
  afterAll(() => stack.stop());

  const startedCount = (events: Array<Record<string, any>>, stepId: string) =>
    events.filter((e) => e.type === 'step' && e.step_id === stepId && e.phase === 'started').length;

  it('finishes a run on a second worker after the first is killed with -9 mid-step; finished steps ran once', async () => {
    const first = spawnWorker(stack.env);
    procs.push(first);
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'write', tool: 'fs.write', args: { path: 'before.txt', content: 'written once' } },
        { id: 'note', tool: 'log', args: { message: 'before the long wait' }, needs: ['write'] },
        { id: 'long', tool: 'wait', args: { seconds: 3 }, needs: ['note'] },
        { id: 'after', tool: 'fs.write', args: { path: 'after.txt', content: 'done' }, needs: ['long'] },
      ],
    });
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    await sse.waitFor((e) => e.event === 'step' && e.data.step_id === 'long' && e.data.phase === 'started', 'the wait step to start', 20_000);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = spawnWorker(stack.env);
    procs.push(second);
    const killedAt = Date.now();
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    // Lock 3 s + stalled check 1 s in this stack: well inside the ~15 s production bound.
    expect(Date.now() - killedAt).toBeLessThan(15_000);

    const events = (await stack.api('GET', `/agent/logs/${body.run_id}?limit=1000`)).body.events;
    expect(startedCount(events, 'write')).toBe(1);
    expect(startedCount(events, 'note')).toBe(1);
    expect(startedCount(events, 'long')).toBe(2);
    expect(startedCount(events, 'after')).toBe(1);
    expect(events.filter((e: { type: string; message?: string }) => e.type === 'log' && e.message === 'before the long wait')).toHaveLength(1);
    expect(run.steps.map((s: { id: string; attempts: number }) => `${s.id}:${s.attempts}`)).toEqual(['write:1', 'note:1', 'long:2', 'after:1']);
    expect(events.some((e: { type: string; message?: string }) => e.type === 'log' && /resuming/.test(e.message ?? ''))).toBe(true);
    await sse.closed;
    expect(sse.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/after.txt`)).body).toBe('done');
  });

  it('resumes a killed worker\'s run on a live worker once its beats stop, long before its lock would expire', async () => {
    // A 60 s lock: BullMQ's stall check cannot be what recovers the run within the test.
    const env = { ...stack.env, WORKER_LOCK_MS: '60000', WORKER_STALLED_INTERVAL_MS: '30000', WORKER_HEARTBEAT_MS: '300', WORKER_DEAD_AFTER_MS: '1500' };
    const survivor = spawnWorker(env);
    procs.push(survivor);
    await waitFor(async () => (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body.workers >= 1, { label: 'the survivor to register', timeoutMs: 20_000 });
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'first', tool: 'log', args: { message: 'once' } },
        { id: 'long', tool: 'wait', args: { seconds: 3 }, needs: ['first'] },
      ],
    });
    // Either may take the run; whichever holds it is killed, the other must take it over.
    const victim = spawnWorker(env);
    procs.push(victim);
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${body.run_id}`)).body.steps[1].status === 'running', {
      label: 'the wait step to run',
      timeoutMs: 20_000,
    });
    const holder = await holderOf(body.run_id, [survivor, victim]);
    const other = holder === survivor ? victim : survivor;
    holder.child.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    expect(run.steps.map((s: { id: string; attempts: number }) => `${s.id}:${s.attempts}`)).toEqual(['first:1', 'long:2']);
    other.child.kill('SIGTERM');
    await other.exited;
  });

  it('does not judge a worker dead whose process stops for less than WORKER_DEAD_AFTER_MS (a blocked event loop)', async () => {
    const env = { ...stack.env, WORKER_LOCK_MS: '60000', WORKER_STALLED_INTERVAL_MS: '30000', WORKER_HEARTBEAT_MS: '300', WORKER_DEAD_AFTER_MS: '4000' };
    const a = spawnWorker(env);
    const b = spawnWorker(env);
    procs.push(a, b);
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ id: 'long', tool: 'wait', args: { seconds: 4 } }] });
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${body.run_id}`)).body.steps[0].status === 'running', {
      label: 'the wait step to run',
      timeoutMs: 20_000,
    });
    const holder = await holderOf(body.run_id, [a, b]);
    // Frozen, as a busy event loop is: no beats, no lock renewals, for 2.5 s of the 4 allowed.
    holder.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2500));
    holder.child.kill('SIGCONT');
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0].attempts).toBe(1);
  });

  /** The worker process running the run: the one whose registry entry reports an active run. */
  async function holderOf(runId: string, candidates: WorkerProcess[]): Promise<WorkerProcess> {
    const busy = await waitFor(
      async () => {
        const list = (await stack.api('GET', '/agent/workers', undefined, { token: TOKENS.ops })).body.workers as { pid: number; active_runs: number }[];
        // Entries of workers killed by earlier tests linger until their TTL: only candidates count.
        const w = list.find((x) => x.active_runs > 0 && candidates.some((c) => c.child.pid === x.pid));
        return w && candidates.find((c) => c.child.pid === w.pid);
      },
      { label: `a worker to report run ${runId} active`, timeoutMs: 10_000 },
    );
    return busy;
  }

  it('drains on SIGTERM: lets a short run finish, then exits 0', async () => {
    const w = spawnWorker(stack.env);
    procs.push(w);
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'wait', args: { seconds: 1 } }] });
    await stack.waitForStatus(body.run_id, ['running'], 20_000);
    w.child.kill('SIGTERM');
    const { code } = await w.exited;
    expect(code).toBe(0);
    expect((await stack.api('GET', `/agent/runs/${body.run_id}`)).body.status).toBe('succeeded');
  });

  it('hands a run that outlives the grace period back to the queue without spending an attempt; another worker finishes it', async () => {
    const env = { ...stack.env, WORKER_DRAIN_S: '1' };
    const w = spawnWorker(env);
    procs.push(w);
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 1 },
      steps: [
        { id: 'first', tool: 'log', args: { message: 'once' } },
        { id: 'long', tool: 'wait', args: { seconds: 4 }, needs: ['first'] },
      ],
    });
    await stack.waitForStatus(body.run_id, ['running'], 20_000);
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${body.run_id}`)).body.steps[1].status === 'running', { label: 'the wait step to run' });
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const handedBack = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
    expect(handedBack.status).toBe('queued');
    // A hand-back is not an attempt: the run counts none until a worker runs it to an outcome.
    expect(handedBack.attempts).toBe(0);

    const next = spawnWorker(stack.env);
    procs.push(next);
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s: { id: string; attempts: number }) => `${s.id}:${s.attempts}`)).toEqual(['first:1', 'long:2']);
    expect(run.attempts).toBe(1);
    next.child.kill('SIGTERM');
    await next.exited;
  });

  it('dead-letters a run whose job stalled more often than allowed, though attempts were left', async () => {
    // BullMQ's stall path, not dead-worker recovery (which would give the job back first).
    const env = { ...stack.env, WORKER_MAX_STALLED: '0', WORKER_DEAD_AFTER_MS: '600000' };
    const first = spawnWorker(env);
    procs.push(first);
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 5 },
      steps: [{ id: 'long', tool: 'wait', args: { seconds: 30 } }],
    });
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${body.run_id}`)).body.steps[0].status === 'running', {
      label: 'the wait step to run',
      timeoutMs: 20_000,
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnWorker(env);
    procs.push(second);
    // Lock (3 s) + stall interval (1 s) normally; headroom for a second worker slow to start on a loaded host.
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered', 'succeeded'], 45_000);
    expect(run.status).toBe('dead_lettered');
    expect(run.error).toMatchObject({ code: 'stalled', retryable: false });
    expect(run.error.message).toContain('stalled more than allowable limit');
    const dlq = (await stack.api('GET', '/admin/dlq', undefined, { token: TOKENS.ops })).body.dead_letters;
    expect(dlq.map((d: { run_id: string }) => d.run_id)).toContain(body.run_id);
  }, 90_000);
});
