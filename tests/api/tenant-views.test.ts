import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const wait = (seconds: number) => [{ tool: 'wait', args: { seconds } }];
/** Long enough that the runs are still active while the second test reads every view of them. */
const RUN_S = 4;

describe('tenant-scoped queue stats and workers', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'tenant-views', env: { WORKER_CONCURRENCY: '4' }, tenants: { defaults: { max_fleet_share: 1 } } });
  });
  afterAll(() => stack.stop());

  const stats = async (token: string, query = '') => (await stack.api('GET', `/agent/queue/stats${query}`, undefined, { token })).body;
  const workers = async (token: string) => (await stack.api('GET', '/agent/workers', undefined, { token })).body;

  it('shows a tenant its own waiting runs and queued age, another tenant nothing of them, and an operator the fleet', async () => {
    const before = Date.now();
    await stack.execute({ action: 'create', start: true, steps: wait(RUN_S) });
    const afterFirst = Date.now();
    for (let i = 0; i < 2; i++) await stack.execute({ action: 'create', start: true, steps: wait(RUN_S) });
    await stack.execute({ action: 'create', start: true, steps: wait(RUN_S) }, TOKENS.globex);
    await waitFor(() => Date.now() - afterFirst >= 200, { label: '200 ms to pass', intervalMs: 20 });

    const asked = Date.now();
    const acme = await stats(TOKENS.acme);
    expect(acme).toMatchObject({ tenant: 'acme', waiting: 3, active: 0, dead_lettered: 0, completed: 0 });
    // The age of its oldest queued run: at least since that create answered, at most since it was sent.
    expect(acme.oldest_waiting_age_ms).toBeGreaterThanOrEqual(asked - afterFirst);
    expect(acme.oldest_waiting_age_ms).toBeLessThanOrEqual(Date.now() - before);
    // Fleet-wide figures are not in a tenant's view.
    expect(acme.workers).toBeUndefined();
    expect(acme.prioritized).toBeUndefined();
    expect(acme.limits).toEqual({
      max_concurrent_runs: 20,
      max_queued_runs: null,
      max_open_sessions: 100,
      max_sse_streams: 100,
      max_workspace_files: 100000,
      max_workspace_bytes: 10 * 1024 ** 3,
      max_listed_runs: 100000,
    });
    expect(await stats(TOKENS.globex)).toMatchObject({ tenant: 'globex', waiting: 1, active: 0 });

    const fleet = await stats(TOKENS.ops);
    expect(fleet).toMatchObject({ waiting: 4, prioritized: 4, workers: 0 });
    expect(fleet.tenant).toBeUndefined();
    // An operator may look at one tenant; a tenant may not look at another.
    expect(await stats(TOKENS.ops, '?tenant=globex')).toMatchObject({ tenant: 'globex', waiting: 1 });
    const refused = await stack.api('GET', '/agent/queue/stats?tenant=globex', undefined, { token: TOKENS.acme });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('tenant');
    expect((await stack.api('GET', '/agent/queue/stats?tenant=Not/A/Tenant', undefined, { token: TOKENS.ops })).status).toBe(400);
    // Naming itself is allowed.
    expect((await stats(TOKENS.acme, '?tenant=acme')).waiting).toBe(3);
  });

  it('counts active runs per tenant and shows a tenant only the workers running its runs, by an opaque ref', async () => {
    const w = await stack.startWorker();
    const active = await waitFor(
      async () => {
        const [a, g] = [await stats(TOKENS.acme), await stats(TOKENS.globex)];
        return a.active === 3 && g.active === 1 ? { a, g } : undefined;
      },
      { label: 'acme 3 and globex 1 active run', timeoutMs: 10_000 },
    );
    expect(active.a.waiting).toBe(0);
    expect(active.a.oldest_waiting_age_ms).toBe(0);

    const seen = await waitFor(
      async () => {
        const v = await workers(TOKENS.acme);
        return v.workers.length === 1 && v.workers[0].active_runs === 3 ? v : undefined;
      },
      { label: "acme's view of the worker to show its 3 runs", timeoutMs: 10_000 },
    );
    expect(seen).toEqual({ tenant: 'acme', workers: [{ ref: expect.stringMatching(/^[0-9a-f]{12}$/), active_runs: 3, last_seen: expect.any(String) }] });
    // Nothing about the host, the process, or another tenant.
    expect(JSON.stringify(seen)).not.toMatch(/globex|"pid"|"host"|"id"/);
    expect(JSON.stringify(seen)).not.toContain(w.heartbeat.id);
    const globexView = await waitFor(
      async () => {
        const v = await workers(TOKENS.globex);
        return v.workers[0]?.active_runs === 1 ? v : undefined;
      },
      { label: "globex's view to show its 1 run", timeoutMs: 10_000 },
    );
    expect(globexView.workers[0].ref).toBe(seen.workers[0].ref);

    // The operator sees the worker in full, the per-tenant counts and the same ref.
    const fleet = (await workers(TOKENS.ops)).workers;
    expect(fleet).toHaveLength(1);
    expect(fleet[0]).toMatchObject({ id: w.heartbeat.id, ref: seen.workers[0].ref, concurrency: 4, active_runs: 4, tenants: { acme: 3, globex: 1 } });

    // Finished runs leave the active counts and show as completed.
    const done = await waitFor(
      async () => {
        const a = await stats(TOKENS.acme);
        return a.completed === 3 && a.active === 0 ? a : undefined;
      },
      { label: "acme's 3 runs to complete", timeoutMs: 15_000 },
    );
    expect(done.waiting).toBe(0);
    expect((await stats(TOKENS.globex)).completed).toBe(1);
    await waitFor(async () => (await workers(TOKENS.acme)).workers.length === 0, { label: "the worker to leave acme's view", timeoutMs: 10_000 });
  });

  it("counts a tenant's dead letters, and a replay takes them out", async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fail', args: { message: 'x', retryable: false } }] }, TOKENS.globex);
    await stack.waitForStatus(body.run_id, ['dead_lettered'], 15_000, TOKENS.globex);
    expect((await stats(TOKENS.globex)).dead_lettered).toBe(1);
    expect((await stats(TOKENS.acme)).dead_lettered).toBe(0);
    expect((await stack.api('POST', `/admin/dlq/${body.run_id}/replay`, undefined, { token: TOKENS.ops })).status).toBe(202);
    const after = await stats(TOKENS.globex);
    expect(after.dead_lettered).toBe(0);
    // The replayed run fails again: it is counted again, and nothing is left running at stop.
    await waitFor(async () => (await stats(TOKENS.globex)).dead_lettered === 1, { label: 'the replayed run to dead-letter again', timeoutMs: 15_000 });
  });
});
