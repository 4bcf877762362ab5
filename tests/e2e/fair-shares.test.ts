import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

/**
 * Fair shares by default, on real worker processes: a tenant that fills the queue with long
 * runs holds at most its share of the fleet's slots (max_fleet_share 0.5 of 2 workers x 2
 * slots = 2, counted across both workers), its other runs wait in the queue without holding a
 * worker, and another tenant's run goes straight through.
 */
describe('fair shares between tenants (real worker processes)', () => {
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'fair-shares' });
    // No TENANTS_FILE: the built-in defaults are what is under test.
    for (let i = 0; i < 2; i++) procs.push(spawnWorker({ ...stack.env, WORKER_CONCURRENCY: '2' }));
    await waitFor(
      async () => ((await stack.api('GET', '/agent/workers', undefined, { token: TOKENS.ops })).body.workers.length === 2 ? true : undefined),
      { label: 'both worker processes to register', timeoutMs: 20_000 },
    );
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await stack.stop();
  });

  const stats = async (token: string) => (await stack.api('GET', '/agent/queue/stats', undefined, { token })).body;

  it("lets another tenant's run through while one tenant holds its share with hour-long waits", async () => {
    const hogs: string[] = [];
    for (let i = 0; i < 5; i++) {
      hogs.push((await stack.execute({ action: 'create', start: true, steps: [{ tool: 'wait', args: { seconds: 3600 } }] })).body.run_id);
    }
    const held = await waitFor(
      async () => {
        const s = await stats(TOKENS.acme);
        return s.active === 2 && s.waiting === 3 ? s : undefined;
      },
      { label: 'acme to hold 2 slots with 3 runs waiting', timeoutMs: 15_000 },
    );
    expect(held.active).toBe(2);

    const quick = (await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'my turn' } }] }, TOKENS.globex)).body.run_id;
    const done = await stack.waitForStatus(quick, ['succeeded'], 15_000, TOKENS.globex);
    expect(done.status).toBe('succeeded');
    // Meanwhile acme still holds exactly its share: never more than 2 of its runs ran at once.
    const acme = await stats(TOKENS.acme);
    expect(acme).toMatchObject({ active: 2, waiting: 3, completed: 0 });
    const runs = await Promise.all(hogs.map(async (id) => (await stack.api('GET', `/agent/runs/${id}`)).body));
    expect(runs.filter((r) => r.status === 'running')).toHaveLength(2);
    expect(runs.filter((r) => r.status === 'queued')).toHaveLength(3);
    // The runs held back were told why, once, on their own stream.
    const waiting = runs.find((r) => r.status === 'queued')!;
    const events = (await stack.api('GET', `/agent/logs/${waiting.id}`)).body.events as Array<{ type: string; message?: string }>;
    expect(events.filter((e) => e.type === 'log' && e.message?.includes('max_fleet_share'))).toHaveLength(1);
    // The held-back runs do not keep a worker slot: the workers' heartbeats report 2 active
    // runs between them, both acme's, out of 4 slots.
    const fleet = await waitFor(
      async () => {
        const ws = (await stack.api('GET', '/agent/workers', undefined, { token: TOKENS.ops })).body.workers as Array<{ active_runs: number; tenants: Record<string, number> }>;
        return ws.length === 2 && ws.every((w) => w.active_runs === (w.tenants.acme ?? 0)) && ws.reduce((n, w) => n + w.active_runs, 0) === 2 ? ws : undefined;
      },
      { label: 'the heartbeats to report the 2 acme runs', timeoutMs: 5000 },
    );
    expect(fleet.reduce((n, w) => n + w.active_runs, 0)).toBe(2);

    // A cancelled run frees its slot for the next of acme's waiting runs.
    const running = runs.filter((r) => r.status === 'running')[0]!;
    expect((await stack.execute({ action: 'cancel', run_id: running.id })).status).toBe(202);
    await waitFor(
      async () => {
        const s = await stats(TOKENS.acme);
        return s.active === 2 && s.waiting === 2 ? s : undefined;
      },
      { label: "a waiting acme run to take the freed slot", timeoutMs: 15_000 },
    );
    for (const id of hogs) await stack.execute({ action: 'cancel', run_id: id });
    await waitFor(async () => (await stats(TOKENS.acme)).active === 0, { label: "acme's runs to stop", timeoutMs: 15_000 });
  });
});
