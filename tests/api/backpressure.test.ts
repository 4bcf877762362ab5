import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/**
 * Backpressure over HTTP: QUEUE_MAX_WAITING for the deployment and max_queued_runs per tenant
 * (TENANTS_FILE). No worker runs until a test starts one, so every started run stays queued.
 */
const steps = (message: string) => [{ tool: 'log', args: { message } }];
const createStarted = (stack: Stack, message: string, token?: string, headers?: Record<string, string>) =>
  stack.execute({ action: 'create', start: true, steps: steps(message) }, token, headers);

type Res = Awaited<ReturnType<Stack['execute']>>;
function expectQueueFull(res: Res, limit: 'QUEUE_MAX_WAITING' | 'max_queued_runs', retryAfter: string): void {
  expect([res.status, res.body.error?.code]).toEqual([429, 'queue_full']);
  expect(res.headers.get('retry-after')).toBe(retryAfter);
  expect(res.body.error.message).toContain(limit);
  expect(res.body.error.details).toEqual([{ path: limit, message: res.body.error.message }]);
}

const runIds = async (stack: Stack, token: string) =>
  ((await stack.api('GET', '/agent/runs?limit=50', undefined, { token })).body.runs as { id: string; status: string }[]).map((r) => `${r.id} ${r.status}`);
// The fleet view (an operator's): the jobs in BullMQ, whichever tenant they belong to.
const queued = async (stack: Stack) => (await stack.api('GET', '/agent/queue/stats', undefined, { token: TOKENS.ops })).body.prioritized as number;

describe('backpressure: a tenant’s max_queued_runs', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      label: 'bp-tenant',
      tenants: { tenants: { acme: { max_queued_runs: 2 }, globex: { max_queued_runs: 2 } } },
    });
  });
  afterAll(() => stack.stop());

  it('refuses the tenant’s third queued run with 429 naming max_queued_runs, creates nothing, and leaves the other tenant alone', async () => {
    const first = await createStarted(stack, 'one');
    const second = await createStarted(stack, 'two');
    expect([first.status, second.status, first.body.status, second.body.status]).toEqual([201, 201, 'queued', 'queued']);
    const before = await runIds(stack, TOKENS.acme);

    const refused = await createStarted(stack, 'three', undefined, { 'Idempotency-Key': 'bp-three' });
    expectQueueFull(refused, 'max_queued_runs', '5');
    expect(refused.body.error.message).toContain('tenant acme has 2 queued runs');
    // Nothing half-created: the list is unchanged and the queue holds only the two jobs.
    expect(await runIds(stack, TOKENS.acme)).toEqual(before);
    expect(await queued(stack)).toBe(2);
    // The key was not spent on the refusal: the same request is refused again, not answered with a run.
    expectQueueFull(await createStarted(stack, 'three', undefined, { 'Idempotency-Key': 'bp-three' }), 'max_queued_runs', '5');

    // A create without start still works; starting it is refused the same way and leaves it created.
    const later = await stack.execute({ action: 'create', steps: steps('later') });
    expect([later.status, later.body.status]).toEqual([201, 'created']);
    const start = await stack.execute({ action: 'start', run_id: later.body.run_id });
    expectQueueFull(start, 'max_queued_runs', '5');
    expect((await stack.api('GET', `/agent/runs/${later.body.run_id}`)).body.status).toBe('created');
    expect(await queued(stack)).toBe(2);

    // globex has its own count.
    const other = await createStarted(stack, 'globex', TOKENS.globex);
    expect([other.status, other.body.status]).toEqual([201, 'queued']);

    // Cancelling one of acme's queued runs makes room: the refused request, with its key, now creates its run, once.
    expect((await stack.execute({ action: 'cancel', run_id: first.body.run_id })).status).toBe(202);
    const retried = await createStarted(stack, 'three', undefined, { 'Idempotency-Key': 'bp-three' });
    expect([retried.status, retried.body.status]).toEqual([201, 'queued']);
    const repeat = await createStarted(stack, 'three', undefined, { 'Idempotency-Key': 'bp-three' });
    expect([repeat.status, repeat.body.run_id]).toEqual([200, retried.body.run_id]);
    expect(await runIds(stack, TOKENS.acme)).toHaveLength(before.length + 2);
    // acme is full again (second + retried).
    expectQueueFull(await stack.execute({ action: 'start', run_id: later.body.run_id }), 'max_queued_runs', '5');

    // Once a worker takes the queued runs, starting succeeds again.
    await stack.startWorker();
    await stack.waitForStatus(retried.body.run_id, ['succeeded']);
    await stack.waitForStatus(second.body.run_id, ['succeeded']);
    const started = await stack.execute({ action: 'start', run_id: later.body.run_id });
    expect([started.status, started.body.status]).toEqual([202, 'queued']);
    await stack.waitForStatus(later.body.run_id, ['succeeded']);
  });
});

describe('backpressure: the deployment’s QUEUE_MAX_WAITING', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      label: 'bp-queue',
      env: { QUEUE_MAX_WAITING: '3', QUEUE_FULL_RETRY_AFTER_S: '7' },
      tenants: { tenants: { acme: { max_queued_runs: 10 } } },
    });
  });
  afterAll(() => stack.stop());

  it('refuses every tenant once the queue holds QUEUE_MAX_WAITING runs, with the configured Retry-After, until runs leave the queue', async () => {
    const ids: string[] = [];
    for (const [message, token] of [['a1', TOKENS.acme], ['a2', TOKENS.acme], ['g1', TOKENS.globex]] as const) {
      const res = await createStarted(stack, message, token);
      expect([res.status, res.body.status]).toEqual([201, 'queued']);
      ids.push(res.body.run_id);
    }
    // acme is under its own limit of 10, globex has none: the deployment's limit refuses both.
    const acmeBefore = await runIds(stack, TOKENS.acme);
    const globexBefore = await runIds(stack, TOKENS.globex);
    const refusedAcme = await createStarted(stack, 'a3', TOKENS.acme, { 'Idempotency-Key': 'bp-a3' });
    expectQueueFull(refusedAcme, 'QUEUE_MAX_WAITING', '7');
    expect(refusedAcme.body.error.message).toContain('the queue holds 3 waiting runs');
    expectQueueFull(await createStarted(stack, 'g2', TOKENS.globex), 'QUEUE_MAX_WAITING', '7');
    expect(await runIds(stack, TOKENS.acme)).toEqual(acmeBefore);
    expect(await runIds(stack, TOKENS.globex)).toEqual(globexBefore);
    expect(await queued(stack)).toBe(3);

    const created = await stack.execute({ action: 'create', steps: steps('created') }, TOKENS.globex);
    expect([created.status, created.body.status]).toEqual([201, 'created']);
    expectQueueFull(await stack.execute({ action: 'start', run_id: created.body.run_id }, TOKENS.globex), 'QUEUE_MAX_WAITING', '7');
    expect((await stack.api('GET', `/agent/runs/${created.body.run_id}`, undefined, { token: TOKENS.globex })).body.status).toBe('created');

    // A worker drains the queue; then the refused request (same key) and the start go through.
    await stack.startWorker();
    for (const id of ids) await stack.waitForStatus(id, ['succeeded'], 15_000, id === ids[2] ? TOKENS.globex : undefined);
    await waitFor(async () => (await queued(stack)) === 0, { label: 'the queue to drain' });
    const again = await createStarted(stack, 'a3', TOKENS.acme, { 'Idempotency-Key': 'bp-a3' });
    expect([again.status, again.body.status]).toEqual([201, 'queued']);
    const started = await stack.execute({ action: 'start', run_id: created.body.run_id }, TOKENS.globex);
    expect([started.status, started.body.status]).toEqual([202, 'queued']);
    await stack.waitForStatus(again.body.run_id, ['succeeded']);
    await stack.waitForStatus(created.body.run_id, ['succeeded'], 15_000, TOKENS.globex);
  });
});

describe('backpressure: a retry queues a run again, so it counts as a start does', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'bp-retry', tenants: { tenants: { acme: { max_queued_runs: 1 } } } });
  });
  afterAll(() => stack.stop());

  it('refuses to retry a cancelled run while the tenant is at max_queued_runs, leaves it cancelled, and retries it once there is room', async () => {
    const waiting = await createStarted(stack, 'waiting');
    expect(waiting.body.status).toBe('queued');
    const other = await stack.execute({ action: 'create', steps: steps('other') });
    expect((await stack.execute({ action: 'cancel', run_id: other.body.run_id })).status).toBe(202);
    await stack.waitForStatus(other.body.run_id, ['cancelled']);

    expectQueueFull(await stack.execute({ action: 'retry', run_id: other.body.run_id }), 'max_queued_runs', '5');
    expect((await stack.api('GET', `/agent/runs/${other.body.run_id}`)).body.status).toBe('cancelled');
    // Counted by its code, what AgentyardQueueFullRefusals watches.
    const metrics = String((await stack.api('GET', '/metrics', undefined, { token: '' })).body);
    expect(metrics).toMatch(/^agentyard_api_errors_total\{code="queue_full",status="429"\} 1$/m);
    expect(await queued(stack)).toBe(1);

    await stack.startWorker();
    await stack.waitForStatus(waiting.body.run_id, ['succeeded']);
    const retried = await stack.execute({ action: 'retry', run_id: other.body.run_id });
    expect([retried.status, retried.body.status]).toEqual([202, 'queued']);
    await stack.waitForStatus(other.body.run_id, ['succeeded']);
  });
});
