import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/**
 * Per-session rate and concurrency limits (SESSION_RATE_LIMIT_PER_MINUTE,
 * SESSION_MAX_CONCURRENCY) and the per-tenant cap on open sessions (max_open_sessions), over
 * real HTTP with a worker on real Redis.
 */
describe('session limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workers: 1,
      label: 'sesslimits',
      env: { SESSION_RATE_LIMIT_PER_MINUTE: '20', SESSION_MAX_CONCURRENCY: '2' },
      tenants: { tenants: { globex: { max_open_sessions: 2 } } },
    });
  });
  afterAll(() => stack.stop());

  const open = async (token?: string) => {
    const r = await stack.api('POST', '/v1/sessions', { approval: 'never' }, token ? { token } : {});
    expect(r.status).toBe(201);
    return r.body.session.id as string;
  };
  const invoke = (sid: string, tool: string, args: Record<string, unknown>, query = '', extra: Record<string, unknown> = {}) =>
    stack.api('POST', `/v1/sessions/${sid}/tools/${tool}/invoke${query}`, { args, ...extra });

  it('answers 429 retryable with Retry-After past SESSION_MAX_CONCURRENCY, and runs again once one finished', async () => {
    const sid = await open();
    const a = await invoke(sid, 'wait', { seconds: 1.5 }, '?wait=false');
    const b = await invoke(sid, 'wait', { seconds: 1.5 }, '?wait=false');
    expect([a.status, b.status]).toEqual([202, 202]);
    const c = await invoke(sid, 'log', { message: 'third' });
    expect(c.status).toBe(429);
    expect(c.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(c.body.error).toMatchObject({ code: 'rate_limited', reason: 'concurrency_limited', retryable: true, details: [{ path: 'SESSION_MAX_CONCURRENCY' }] });
    expect(c.body.invocation).toMatchObject({ status: 'denied', error: { code: 'rate_limited', retryable: true } });
    // Another session of the same tenant is not held back.
    expect((await invoke(await open(), 'log', { message: 'elsewhere' })).status).toBe(200);
    // A repeat of a reserved correlation id is an answer, not a new invocation: never limited.
    const d = await invoke(sid, 'log', { message: 'retry me' }, '', { correlation_id: 'c-limited' });
    expect(d.status).toBe(429);
    let after: Awaited<ReturnType<typeof invoke>> | undefined;
    await waitFor(async () => (after = await invoke(sid, 'log', { message: 'retry me' }, '', { correlation_id: 'c-limited' })).status !== 429, {
      timeoutMs: 10_000,
      label: 'the session had a free slot again once a wait finished',
    });
    expect(after!.status).toBe(200);
    expect(after!.body.invocation.status).toBe('succeeded');
  });

  it('answers 429 retryable past SESSION_RATE_LIMIT_PER_MINUTE, without counting repeats of a correlation id', async () => {
    const sid = await open();
    const first = await invoke(sid, 'log', { message: 'once' }, '', { correlation_id: 'same' });
    for (let i = 0; i < 5; i++) expect((await invoke(sid, 'log', { message: 'once' }, '', { correlation_id: 'same' })).body.invocation.id).toBe(first.body.invocation.id);
    for (let i = 1; i < 20; i++) expect((await invoke(sid, 'log', { message: `n${i}` })).status).toBe(200);
    const over = await invoke(sid, 'log', { message: 'one too many' });
    expect(over.status).toBe(429);
    const wait = Number(over.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    expect(over.body.error).toMatchObject({ code: 'rate_limited', reason: 'rate_limited', retryable: true, details: [{ path: 'SESSION_RATE_LIMIT_PER_MINUTE' }] });
    expect((await stack.api('GET', `/v1/invocations/${over.body.invocation.id}`)).body.invocation.status).toBe('denied');
    const metrics = (await stack.api('GET', '/metrics')).body as string;
    expect(metrics).toMatch(/agentyard_invocation_denials_total\{tool="log",reason="rate_limited"\} [1-9]/);
  });

  it("caps a tenant's open sessions at max_open_sessions (429), and a closed one frees a place", async () => {
    const g = TOKENS.globex;
    const first = await open(g);
    await open(g);
    const third = await stack.api('POST', '/v1/sessions', {}, { token: g });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(third.body.error).toMatchObject({ code: 'rate_limited', retryable: true, details: [{ path: 'max_open_sessions' }] });
    // Other tenants keep the default (100).
    await open();
    expect((await stack.api('DELETE', `/v1/sessions/${first}`, undefined, { token: g })).status).toBe(200);
    expect((await stack.api('POST', '/v1/sessions', {}, { token: g })).status).toBe(201);
  });
});
