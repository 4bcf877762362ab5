import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('queue stats', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'stats', env: { WORKER_CONCURRENCY: '1' } });
  });
  afterAll(() => stack.stop());

  it('counts waiting jobs of every priority while no worker runs, and how old the oldest is', async () => {
    const empty = (await stack.api('GET', '/agent/queue/stats')).body;
    expect(empty).toMatchObject({ waiting: 0, active: 0, workers: 0, dead_lettered: 0, oldest_waiting_age_ms: 0 });
    for (const priority of ['low', 'normal', 'critical']) {
      const res = await stack.execute({ action: 'create', start: true, options: { priority }, steps: [{ tool: 'log', args: { message: priority } }] });
      expect(res.body.status).toBe('queued');
    }
    await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'not started' } }] });
    const stats = (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.globex })).body;
    expect(stats.waiting).toBe(3);
    expect(stats.prioritized).toBe(3);
    expect(stats.active).toBe(0);
    expect(stats.workers).toBe(0);
    expect(stats.oldest_waiting_age_ms).toBeGreaterThanOrEqual(0);
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
    expect((await stack.api('GET', '/agent/queue/stats')).body.workers).toBe(1);
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
