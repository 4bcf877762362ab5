import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { createSessionStore, type SessionStore } from './session-store';

const doc = { workspace_id: 'default', approval: 'writes' as const, metadata: {} };
const result = { logs: [], artifacts: [], duration_ms: 5, output: { ok: true } };

describe('session store transitions on real Redis', () => {
  let t: TestRedis;
  let store: SessionStore;
  let now = Date.UTC(2026, 0, 1);
  let n = 0;
  beforeAll(() => {
    t = testRedis('sessionstore');
    store = createSessionStore({ redis: t.redis, prefix: t.prefix, now: () => now });
  });
  afterAll(() => t.cleanup());
  const sid = () => `session-t${(n += 1)}`;

  it('expires a session only once its expiry passed, and only while it is open', async () => {
    const id = sid();
    const ref = { tenant: 'acme', id };
    await store.create('acme', id, doc, 60);
    expect(await store.due(10)).not.toContainEqual(ref);
    expect(await store.expire(ref)).toBe(false);
    now += 61_000;
    expect(await store.due(10)).toContainEqual(ref);
    expect(await store.expire(ref)).toBe(true);
    expect((await store.get('acme', id)).status).toBe('expired');
    expect(await store.expire(ref)).toBe(false);
    expect(await store.due(10)).not.toContainEqual(ref);
    await expect(store.close('acme', id)).rejects.toMatchObject({ status: 409 });
  });

  it('closes once, for its own tenant only', async () => {
    const id = sid();
    await store.create('acme', id, doc, 60);
    await expect(store.close('globex', id)).rejects.toMatchObject({ status: 404 });
    expect((await store.close('acme', id)).status).toBe('closed');
    await expect(store.close('acme', id)).rejects.toMatchObject({ status: 409 });
    expect(await store.due(100)).not.toContainEqual({ tenant: 'acme', id });
  });

  it('reserves a correlation id once; its invocation is returned even after the session closed', async () => {
    const id = sid();
    await store.create('acme', id, doc, 60);
    const a = await store.reserve('acme', id, { id: 'inv-00000000000000a1', tool_name: 'fs.read', args: {}, correlation_id: 'c1' });
    const b = await store.reserve('acme', id, { id: 'inv-00000000000000b2', tool_name: 'fs.read', args: {}, correlation_id: 'c1' });
    expect(a).toEqual({ invocationId: 'inv-00000000000000a1', reserved: true });
    expect(b).toEqual({ invocationId: 'inv-00000000000000a1', reserved: false });
    expect(await store.invocation('inv-00000000000000b2')).toBeUndefined();
    await store.close('acme', id);
    expect((await store.reserve('acme', id, { id: 'inv-00000000000000c3', tool_name: 'fs.read', args: {}, correlation_id: 'c1' })).invocationId).toBe('inv-00000000000000a1');
    await expect(store.reserve('acme', id, { id: 'inv-00000000000000d4', tool_name: 'fs.read', args: {} })).rejects.toMatchObject({ status: 409 });
    await expect(store.reserve('globex', id, { id: 'inv-00000000000000e5', tool_name: 'fs.read', args: {}, correlation_id: 'c1' })).rejects.toMatchObject({ status: 404 });
  });

  it('scopes a session id to its tenant: a reuse by the same tenant is refused, another tenant gets a session of its own', async () => {
    const id = sid();
    const first = await store.create('acme', id, { ...doc, metadata: { who: 'acme' } }, 60);
    await expect(store.create('acme', id, { ...doc, metadata: { who: 'again' } }, 60)).rejects.toMatchObject({ status: 409, code: 'session_exists' });
    const theirs = await store.create('globex', id, { ...doc, workspace_id: 'g', metadata: { who: 'globex' } }, 120);
    expect(theirs).toMatchObject({ id, tenant: 'globex', workspace_id: 'g', metadata: { who: 'globex' } });
    await expect(store.create('globex', id, doc, 60)).rejects.toMatchObject({ status: 409 });
    // Each tenant reads its own, and the first is kept.
    expect(await store.get('acme', id)).toMatchObject({ tenant: 'acme', metadata: { who: 'acme' }, expires_at: first.expires_at });
    expect(await store.get('globex', id)).toMatchObject({ tenant: 'globex', metadata: { who: 'globex' } });
    expect(await store.session('initech', id)).toBeUndefined();

    // One correlation id in both: two invocations, each its tenant's.
    const a = await store.reserve('acme', id, { id: 'inv-00000000000030a1', tool_name: 'fs.read', args: {}, correlation_id: 'same' });
    const g = await store.reserve('globex', id, { id: 'inv-00000000000030b1', tool_name: 'fs.read', args: {}, correlation_id: 'same' });
    expect([a, g]).toEqual([{ invocationId: 'inv-00000000000030a1', reserved: true }, { invocationId: 'inv-00000000000030b1', reserved: true }]);
    expect(await store.invocationForTenant('globex', 'inv-00000000000030b1')).toMatchObject({ tenant: 'globex', session_id: id });
    await expect(store.invocationForTenant('acme', 'inv-00000000000030b1')).rejects.toMatchObject({ status: 404 });
    // A failure gives the correlation id back in its own session only.
    await store.begin('inv-00000000000030a1');
    await store.finish('inv-00000000000030a1', 'failed', { ...result, error: { code: 'x', message: 'm', retryable: true } });
    expect(await store.reserve('globex', id, { id: 'inv-00000000000030b2', tool_name: 'fs.read', args: {}, correlation_id: 'same' })).toEqual({ invocationId: 'inv-00000000000030b1', reserved: false });
    expect(await store.reserve('acme', id, { id: 'inv-00000000000030a2', tool_name: 'fs.read', args: {}, correlation_id: 'same' })).toEqual({ invocationId: 'inv-00000000000030a2', reserved: true });

    // Closing one leaves the other open; the sweeper sees each by tenant and id.
    expect((await store.close('acme', id)).status).toBe('closed');
    expect((await store.get('globex', id)).status).toBe('open');
    now += 61_000;
    expect(await store.due(100)).not.toContainEqual({ tenant: 'acme', id });
    expect(await store.due(100)).not.toContainEqual({ tenant: 'globex', id });
    now += 60_000;
    expect(await store.due(100)).toContainEqual({ tenant: 'globex', id });
    expect(await store.expire({ tenant: 'acme', id })).toBe(false);
    expect((await store.get('acme', id)).status).toBe('closed');
    expect(await store.expire({ tenant: 'globex', id })).toBe(true);
    expect((await store.get('globex', id)).status).toBe('expired');
  });

  it("keeps each tenant's limits on its own session of a shared id", async () => {
    const limited = createSessionStore({ redis: t.redis, prefix: t.prefix, now: () => now, limits: { ratePerMinute: 0, maxConcurrency: 1, maxOpenSessions: () => 1 } });
    const id = sid();
    await limited.create('acme', id, doc, 600);
    // max_open_sessions counts the tenant's own sessions, whoever else uses the id.
    await limited.create('globex', id, doc, 600);
    await expect(limited.create('acme', sid(), doc, 600)).rejects.toMatchObject({ status: 429 });
    expect(await limited.reserve('acme', id, { id: 'inv-00000000000040a1', tool_name: 'log', args: {} })).toMatchObject({ reserved: true });
    // acme's running invocation takes no slot of globex's session.
    expect(await limited.reserve('globex', id, { id: 'inv-00000000000040b1', tool_name: 'log', args: {} })).toMatchObject({ reserved: true });
    expect(await limited.reserve('acme', id, { id: 'inv-00000000000040a2', tool_name: 'log', args: {} })).toMatchObject({ limited: 'concurrency' });
    // And the finish of globex's frees globex's slot, not acme's.
    await limited.begin('inv-00000000000040b1');
    await limited.finish('inv-00000000000040b1', 'succeeded', result);
    expect(await limited.reserve('acme', id, { id: 'inv-00000000000040a3', tool_name: 'log', args: {} })).toMatchObject({ limited: 'concurrency' });
    expect(await limited.reserve('globex', id, { id: 'inv-00000000000040b2', tool_name: 'log', args: {} })).toMatchObject({ reserved: true });
  });

  it('drops work-list members of an older shape instead of retrying them forever', async () => {
    await t.redis.zadd(`${t.prefix}sessions:expiring`, 0, 'session-untenanted');
    await t.redis.zadd(`${t.prefix}sessions:archive-pending`, 0, 's session-untenanted');
    expect(await store.due(1000)).not.toContainEqual(expect.objectContaining({ id: 'session-untenanted' }));
    expect(await store.pendingArchives(1000)).toEqual([]);
    expect(await t.redis.zscore(`${t.prefix}sessions:expiring`, 'session-untenanted')).toBeNull();
    expect(await t.redis.zscore(`${t.prefix}sessions:archive-pending`, 's session-untenanted')).toBeNull();
  });

  it('lets only the first begin run an invocation, and finishes it once', async () => {
    const id = sid();
    await store.create('acme', id, doc, 60);
    const { invocationId } = await store.reserve('acme', id, { id: 'inv-00000000000000f6', tool_name: 'fs.read', args: {} });
    expect(await store.begin(invocationId)).toBe('ok');
    expect(await store.begin(invocationId)).toBe('started');
    expect(await store.finish(invocationId, 'succeeded', result)).toBe(true);
    expect(await store.finish(invocationId, 'failed', result)).toBe(false);
    expect(await store.begin(invocationId)).toBe('gone');
    expect(await store.invocationForTenant('acme', invocationId)).toMatchObject({ status: 'succeeded', duration_ms: 5, output: { ok: true } });
    await expect(store.invocationForTenant('globex', invocationId)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses past the concurrency and rate limits until a finish frees a slot, and never for a repeated correlation id', async () => {
    const limited = createSessionStore({
      redis: t.redis,
      prefix: t.prefix,
      now: () => now,
      limits: { ratePerMinute: 3, maxConcurrency: 2, maxOpenSessions: () => 0 },
    });
    const id = sid();
    await limited.create('acme', id, doc, 600);
    const inv = (n: number, corr?: string) => ({ id: `inv-00000000000010${String(n).padStart(2, '0')}`, tool_name: 'log', args: {}, ...(corr ? { correlation_id: corr } : {}) });
    expect(await limited.reserve('acme', id, inv(1, 'k'))).toMatchObject({ reserved: true });
    expect(await limited.reserve('acme', id, inv(2))).toMatchObject({ reserved: true });
    expect(await limited.reserve('acme', id, inv(3))).toEqual({ limited: 'concurrency', retryAfterS: 1 });
    // A repeat of a reserved correlation id is an answer, not a new invocation.
    expect(await limited.reserve('acme', id, inv(4, 'k'))).toEqual({ invocationId: inv(1).id, reserved: false });
    await limited.begin(inv(1).id);
    expect(await limited.finish(inv(1).id, 'succeeded', result)).toBe(true);
    expect(await limited.reserve('acme', id, inv(5))).toMatchObject({ reserved: true });
    await limited.finish(inv(5).id, 'succeeded', result);
    // Three started this minute: the rate refuses, with the window's remaining seconds.
    const r = await limited.reserve('acme', id, inv(6));
    expect(r).toMatchObject({ limited: 'rate' });
    expect((r as { retryAfterS: number }).retryAfterS).toBeGreaterThanOrEqual(1);
    expect((r as { retryAfterS: number }).retryAfterS).toBeLessThanOrEqual(60);
  });

  it('records a denial without holding its correlation id, and a failure gives its correlation id back', async () => {
    const id = sid();
    await store.create('acme', id, doc, 60);
    const denied = await store.deny('acme', id, { id: 'inv-00000000000020a1', tool_name: 'fs.write', args: {}, correlation_id: 'c2' }, { code: 'approval_required', message: 'm', retryable: false });
    expect(denied).toMatchObject({ status: 'denied', correlation_id: 'c2', error: { code: 'approval_required' }, completed_at: expect.any(String), logs: [], artifacts: [] });
    const a = await store.reserve('acme', id, { id: 'inv-00000000000020a2', tool_name: 'fs.write', args: {}, correlation_id: 'c2' });
    expect(a).toEqual({ invocationId: 'inv-00000000000020a2', reserved: true });
    await store.begin('inv-00000000000020a2');
    await store.finish('inv-00000000000020a2', 'failed', { ...result, error: { code: 'x', message: 'm', retryable: true } });
    expect(await store.reserve('acme', id, { id: 'inv-00000000000020a3', tool_name: 'fs.write', args: {}, correlation_id: 'c2' })).toEqual({ invocationId: 'inv-00000000000020a3', reserved: true });
    await store.begin('inv-00000000000020a3');
    await store.finish('inv-00000000000020a3', 'succeeded', result);
    // A success keeps it.
    expect(await store.reserve('acme', id, { id: 'inv-00000000000020a4', tool_name: 'fs.write', args: {}, correlation_id: 'c2' })).toEqual({ invocationId: 'inv-00000000000020a3', reserved: false });
    expect(await store.runningSince(now + 1, 100)).not.toContain('inv-00000000000020a3');
  });

  it("caps a tenant's open sessions; closed and expired ones free their place", async () => {
    const capped = createSessionStore({ redis: t.redis, prefix: t.prefix, now: () => now, limits: { ratePerMinute: 0, maxConcurrency: 0, maxOpenSessions: (tenant) => (tenant === 'capped' ? 2 : 0) } });
    const [a, b, c, d] = [sid(), sid(), sid(), sid()];
    await capped.create('capped', a, doc, 60);
    await capped.create('capped', b, doc, 120);
    await expect(capped.create('capped', c, doc, 60)).rejects.toMatchObject({ status: 429, retryAfterS: 60, details: [{ path: 'max_open_sessions' }] });
    await capped.close('capped', a);
    await capped.create('capped', c, doc, 60);
    // Past its expiry a session no longer counts, swept or not.
    now += 61_000;
    await capped.create('capped', d, doc, 60);
    expect(await capped.expire({ tenant: 'capped', id: c })).toBe(true);
  });
});
