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
    await store.create('acme', id, doc, 60);
    expect(await store.due(10)).not.toContain(id);
    expect(await store.expire(id)).toBe(false);
    now += 61_000;
    expect(await store.due(10)).toContain(id);
    expect(await store.expire(id)).toBe(true);
    expect((await store.get('acme', id)).status).toBe('expired');
    expect(await store.expire(id)).toBe(false);
    expect(await store.due(10)).not.toContain(id);
    await expect(store.close('acme', id)).rejects.toMatchObject({ status: 409 });
  });

  it('closes once, for its own tenant only', async () => {
    const id = sid();
    await store.create('acme', id, doc, 60);
    await expect(store.close('globex', id)).rejects.toMatchObject({ status: 404 });
    expect((await store.close('acme', id)).status).toBe('closed');
    await expect(store.close('acme', id)).rejects.toMatchObject({ status: 409 });
    expect(await store.due(100)).not.toContain(id);
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
});
