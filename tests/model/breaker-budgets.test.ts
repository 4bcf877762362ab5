import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

const logs = async (stack: Stack, runId: string) =>
  (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events.filter((e: { type: string }) => e.type === 'log').map((e: { message: string }) => e.message) as string[];

describe('model endpoint circuit breaker', () => {
  let model: FakeModel;
  let stack: Stack;
  beforeAll(async () => {
    model = await startFakeModel();
    stack = await startStack({
      workers: 1,
      label: 'breaker',
      env: { LLM_BASE_URL: model.url, LLM_BREAKER_FAILURES: '2', LLM_BREAKER_RESET_S: '1', RETRY_BACKOFF_MS: '50' },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await model.close();
  });

  it('opens after repeated failures, makes runs back off without calling the endpoint, and closes once it recovers', async () => {
    const recoverAt = Date.now() + 700;
    model.fallback = () => (Date.now() < recoverAt ? { status: 503 } : { content: 'recovered' });
    const first = await stack.execute({ action: 'create', prompt: 'one', start: true, options: { max_attempts: 10 } });
    await stack.waitForStatus(first.body.run_id, ['succeeded', 'dead_lettered'], 20_000);
    const second = await stack.execute({ action: 'create', prompt: 'two', start: true, options: { max_attempts: 10 } });
    const [a, b] = [
      (await stack.api('GET', `/agent/runs/${first.body.run_id}`)).body,
      await stack.waitForStatus(second.body.run_id, ['succeeded', 'dead_lettered'], 20_000),
    ];
    expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
    // Two failures opened the breaker; while open nobody called the endpoint; one probe closed it.
    const failures = model.requests.length - 2;
    expect(failures).toBe(2);
    expect((await logs(stack, first.body.run_id)).some((m) => /circuit breaker is open/.test(m))).toBe(true);
    // Two failed attempts and the one that succeeded; the deferrals while the breaker was open are not attempts.
    expect(a.attempts).toBe(3);
    const metrics = await stack.workers[0]!.registry.metrics();
    expect(metrics).toContain(`agentyard_model_breaker_state{endpoint="${model.url}"} 0`);
    expect(stack.workers[0]!.details()).toEqual({ model_breakers: { [model.url]: 'closed' } });
  });
});

describe('budgets', () => {
  let model: FakeModel;
  let stack: Stack;
  beforeAll(async () => {
    model = await startFakeModel();
    stack = await startStack({
      workers: 1,
      label: 'budgets',
      env: { LLM_BASE_URL: model.url, LLM_MAX_COMPLETION_TOKENS: '100', WORKER_CONCURRENCY: '4' },
      tenants: { defaults: { daily_tokens: 100000 }, tenants: { acme: { daily_tokens: 1000, max_concurrent_runs: 1 } } },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await model.close();
  });

  it('stops a tenant at its daily token budget without overshooting, and refuses new runs with 429 and Retry-After', async () => {
    // Every turn reports 300 tokens and asks to keep going: the budget, not the model, ends it.
    model.fallback = () => ({ toolCalls: [{ name: 'log', arguments: { message: 'again' } }], usage: [250, 50] });
    const { body } = await stack.execute({ action: 'create', prompt: 'loop forever', start: true });
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered', 'succeeded'], 20_000);
    expect(run.status).toBe('dead_lettered');
    expect(run.error).toMatchObject({ code: 'budget_exceeded', retryable: false });
    expect(run.attempts).toBe(1);
    const used = Number(await stack.redis.redis.hget(`${stack.redis.prefix}budget:acme:${new Date().toISOString().slice(0, 10)}`, 'used'));
    expect(used).toBeLessThanOrEqual(1000);
    expect(used).toBe(run.usage.total_tokens);
    const refused = await stack.execute({ action: 'create', start: true, prompt: 'more please' });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('budget_exceeded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Runs without a model use no tokens and still go; another tenant is unaffected.
    expect((await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] })).status).toBe(201);
    expect((await stack.execute({ action: 'create', prompt: 'hello' }, TOKENS.globex)).status).toBe(201);
    model.fallback = undefined;
  });

  it('stops a run at its own max_tokens and max_steps', async () => {
    model.fallback = () => ({ toolCalls: [{ name: 'log', arguments: { message: 'again' } }], usage: [40, 10] });
    const tokens = await stack.execute({ action: 'create', prompt: 'go', start: true, options: { max_tokens: 120 } }, TOKENS.globex);
    const byTokens = await stack.waitForStatus(tokens.body.run_id, ['dead_lettered', 'succeeded'], 20_000, TOKENS.globex);
    expect(byTokens.error).toMatchObject({ code: 'budget_exceeded' });
    expect(byTokens.error.message).toContain('max_tokens');
    const steps = await stack.execute({ action: 'create', prompt: 'go', start: true, options: { max_steps: 5 } }, TOKENS.globex);
    const bySteps = await stack.waitForStatus(steps.body.run_id, ['dead_lettered', 'succeeded'], 20_000, TOKENS.globex);
    expect(bySteps.error.message).toContain('max_steps (5)');
    expect(bySteps.steps.length).toBeLessThanOrEqual(5);
    model.fallback = undefined;
  });
});

describe('tenant concurrency limit', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Two worker slots: if a waiting run held one, the other tenant's run could not start.
    stack = await startStack({
      workers: 1,
      label: 'slots',
      env: { WORKER_CONCURRENCY: '2' },
      tenants: { tenants: { acme: { max_concurrent_runs: 1 } } },
    });
  });
  afterAll(() => stack.stop());

  it('serialises two runs of a tenant limited to 1 while another tenant’s run proceeds', async () => {
    const waitPlan = { action: 'create', start: true, steps: [{ tool: 'wait', args: { seconds: 1 } }] };
    const a = (await stack.execute(waitPlan)).body.run_id;
    const b = (await stack.execute(waitPlan)).body.run_id;
    const c = (await stack.execute(waitPlan, TOKENS.globex)).body.run_id;
    const [ra, rb] = [await stack.waitForStatus(a, ['succeeded'], 20_000), await stack.waitForStatus(b, ['succeeded'], 20_000)];
    const rc = await stack.waitForStatus(c, ['succeeded'], 20_000, TOKENS.globex);
    const [first, second] = Date.parse(ra.started_at) <= Date.parse(rb.started_at) ? [ra, rb] : [rb, ra];
    expect(Date.parse(second.started_at)).toBeGreaterThanOrEqual(Date.parse(first.finished_at));
    expect(Date.parse(rc.started_at)).toBeLessThan(Date.parse(first.finished_at));
    expect((await logs(stack, second.id)).some((m) => /runs at most 1 run\(s\) at once/.test(m))).toBe(true);
    expect(second.attempts).toBe(1);
  });
});
