import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

describe('queue stats', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'stats', env: { WORKER_CONCURRENCY: '1' } });
  });
  afterAll(() => stack.stop());

  it('counts waiting jobs of every priority while no worker runs, and how old the oldest is', async () => {
    const empty = (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body;
    expect(empty).toMatchObject({ waiting: 0, active: 0, workers: 0, dead_lettered: 0, completed: 0, oldest_waiting_age_ms: 0 });
    const beforeFirst = Date.now();
    for (const priority of ['low', 'normal', 'critical']) {
      const res = await stack.execute({ action: 'create', start: true, options: { priority }, steps: [{ tool: 'log', args: { message: priority } }] });
      expect(res.body.status).toBe('queued');
    }
    const afterFirst = Date.now();
    await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'not started' } }] });
    // Let the oldest run wait a measured while: its age must cover that and not much more.
    await waitFor(() => Date.now() - afterFirst >= 400, { label: '400 ms to pass', intervalMs: 20 });
    const asked = Date.now();
    const stats = (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body;
    const answered = Date.now();
    expect(stats.waiting).toBe(3);
    expect(stats.prioritized).toBe(3);
    expect(stats.active).toBe(0);
    expect(stats.workers).toBe(0);
    expect(stats.oldest_waiting_age_ms).toBeGreaterThanOrEqual(asked - afterFirst);
    expect(stats.oldest_waiting_age_ms).toBeLessThanOrEqual(answered - beforeFirst);
    expect(stats.completed).toBe(0);
    expect(Object.keys(stats).sort()).toEqual(
      ['active', 'completed', 'dead_lettered', 'delayed', 'failed', 'oldest_waiting_age_ms', 'prioritized', 'waiting', 'workers'].sort(),
    );
  });

  it('hands the critical run to the first worker that starts', async () => {
    const w = await stack.startWorker();
    const runs = (await stack.api('GET', '/agent/runs?limit=10')).body.runs as Array<{ id: string; options: { priority: string } }>;
    const critical = runs.find((r) => r.options.priority === 'critical')!;
    const done = await stack.waitForStatus(critical.id, ['succeeded']);
    const others = await Promise.all(
      runs.filter((r) => r.id !== critical.id && r.options.priority !== 'normal').map((r) => stack.waitForStatus(r.id, ['succeeded'])),
    );
    for (const o of others) expect(Date.parse(o.started_at)).toBeGreaterThanOrEqual(Date.parse(done.started_at));
    expect((await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body.workers).toBe(1);
    // All three started runs succeed; the one never started does not count.
    const completed = await waitFor(
      async () => {
        const s = (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body;
        return s.completed === 3 && s.waiting === 0 ? s : undefined;
      },
      { label: 'completed to reach 3 and the queue to empty' },
    );
    expect(completed.oldest_waiting_age_ms).toBe(0);
    const failed = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fail', args: { message: 'no', retryable: false } }] });
    await stack.waitForStatus(failed.body.run_id, ['dead_lettered']);
    const after = (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body;
    expect(after).toMatchObject({ completed: 3, dead_lettered: 1 });
    void w;
  });
});

describe('queue depth on /metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'depth' });
  });
  afterAll(() => stack.stop());

  it('reports waiting, prioritized and dead-lettered depth and the oldest waiting age', async () => {
    await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'a' } }] });
    await stack.execute({ action: 'create', start: true, options: { priority: 'high' }, steps: [{ tool: 'log', args: { message: 'b' } }] });
    const text: string = (await stack.api('GET', '/metrics', undefined, { token: '' })).body;
    expect(text).toMatch(/^agentyard_queue_depth\{state="prioritized"\} 2$/m);
    expect(text).toMatch(/^agentyard_queue_depth\{state="dead_lettered"\} 0$/m);
    expect(text).toMatch(/^agentyard_queue_depth\{state="delayed_due"\} 0$/m);
    expect(text).toMatch(/^agentyard_queue_oldest_waiting_age_seconds \d/m);
  });
});
