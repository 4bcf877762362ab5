import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { createSessionArchive } from './session-archive';
import { createSessionArchiver } from './session-archiver';
import { createSessionStore, type SessionStore } from './session-store';

/** Storage that can be down: the archive's two calls over a map (Redis is the real one). */
function flakyStorage() {
  const files = new Map<string, string>();
  const state = { down: false };
  const at = (root: string) => ({
    async write(path: string, body: string) {
      if (state.down) throw Object.assign(new Error('storage unavailable'), { code: 'unavailable' });
      files.set(`${root}/${path}`, body);
      return { size: body.length };
    },
    async read(path: string) {
      const body = files.get(`${root}/${path}`);
      if (body === undefined) throw Object.assign(new Error('missing'), { code: 'not_found' });
      return Buffer.from(body);
    },
  });
  return { files, state, workspace: (t: string, w: string) => at(`${t}/${w}`), tenantRoot: (t: string) => at(t) };
}

describe('session archiver on real Redis', () => {
  let t: TestRedis;
  let store: SessionStore;
  beforeAll(() => {
    t = testRedis('sessarchiver');
    store = createSessionStore({ redis: t.redis, prefix: t.prefix, recordTtlS: 600 });
  });
  afterAll(() => t.cleanup());

  it('keeps a record whose archive failed in Redis without a TTL, and writes it once storage is back', async () => {
    const storage = flakyStorage();
    const errors: string[] = [];
    const archive = createSessionArchive(storage);
    const archiver = createSessionArchiver({ store, archive, onError: (what) => errors.push(what) });
    const session = await store.create('acme', 'session-arch1', { workspace_id: 'w1', approval: 'never', metadata: {} }, 60);
    await store.reserve('acme', session.id, { id: 'inv-0000000000000a01', tool_name: 'log', args: {} });
    await store.begin('inv-0000000000000a01');
    await store.finish('inv-0000000000000a01', 'succeeded', { logs: [], artifacts: [], duration_ms: 1, output: { ok: 1 } });
    const inv = (await store.invocation('inv-0000000000000a01'))!;

    storage.state.down = true;
    await archiver.invocation(inv, 'w1');
    await archiver.session(session);
    expect(errors).toEqual(['invocation inv-0000000000000a01', 'session session-arch1']);
    // Kept: no TTL while its archive is missing.
    expect(await t.redis.ttl(`${t.prefix}inv:inv-0000000000000a01`)).toBe(-1);
    expect(await archiver.retryPending(10)).toEqual({ archived: 0 });
    expect(await archive.readInvocation('acme', inv.id)).toBeUndefined();

    storage.state.down = false;
    expect(await archiver.retryPending(10)).toEqual({ archived: 2 });
    expect(await archive.readInvocation('acme', inv.id)).toMatchObject({ id: inv.id, status: 'succeeded', output: { ok: 1 } });
    expect(await archive.readSession('acme', session.id)).toMatchObject({ id: session.id, status: 'open' });
    // Another tenant's pointer root holds nothing.
    expect(await archive.readInvocation('globex', inv.id)).toBeUndefined();
    // The TTL is back (the open session's includes its lifetime), and nothing is pending.
    const ttl = await t.redis.ttl(`${t.prefix}inv:inv-0000000000000a01`);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(await t.redis.ttl(`${t.prefix}session:acme:session-arch1`)).toBeGreaterThan(650);
    expect(await store.pendingArchives(10)).toEqual([]);
  });

  it("retries the pending archives of two tenants' sessions of one id, each into its own tenant", async () => {
    const storage = flakyStorage();
    const archive = createSessionArchive(storage);
    const archiver = createSessionArchiver({ store, archive, onError: () => undefined });
    const mine = await store.create('acme', 'session-shared1', { workspace_id: 'wa', approval: 'never', metadata: { who: 'acme' } }, 60);
    const theirs = await store.create('globex', 'session-shared1', { workspace_id: 'wg', approval: 'all', metadata: { who: 'globex' } }, 60);
    storage.state.down = true;
    await archiver.session(mine);
    await archiver.session(theirs);
    expect(await store.pendingArchives(10)).toEqual([
      { kind: 'session', tenant: 'acme', id: 'session-shared1' },
      { kind: 'session', tenant: 'globex', id: 'session-shared1' },
    ]);
    await store.close('globex', 'session-shared1');
    storage.state.down = false;
    expect(await archiver.retryPending(10)).toEqual({ archived: 2 });
    expect(await archive.readSession('acme', 'session-shared1')).toMatchObject({ tenant: 'acme', workspace_id: 'wa', status: 'open', metadata: { who: 'acme' } });
    expect(await archive.readSession('globex', 'session-shared1')).toMatchObject({ tenant: 'globex', workspace_id: 'wg', status: 'closed', metadata: { who: 'globex' } });
    expect(storage.files.has('acme/wa/.agent/sessions/session-shared1/session.json')).toBe(true);
    expect(storage.files.has('globex/wg/.agent/sessions/session-shared1/session.json')).toBe(true);
  });
});
