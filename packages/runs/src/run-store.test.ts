import { newRunId, RUN_STATUSES, type RunOptions, type RunStatus } from '@agentyard/core';
import { createEventLog } from '@agentyard/events';
import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { createRunStore, type RunStore } from './run-store';
import { TRANSITIONS, type TransitionName } from './state-machine';

const options: RunOptions = { priority: 'normal', max_attempts: 3, timeout_s: 60, max_steps: 10, approval: 'never' };

const cancelled = { code: 'cancelled', message: 'cancelled', retryable: false };

describe('run store on real Redis', () => {
  let t: TestRedis;
  let store: RunStore;
  let now = Date.UTC(2026, 0, 1);
  beforeAll(() => {
    t = testRedis('runstore');
    store = createRunStore({ redis: t.redis, prefix: t.prefix, now: () => now });
  });
  afterAll(() => t.cleanup());

  const create = async (tenant = 'acme') => {
    now += 1000;
    const id = newRunId(now);
    const { run } = await store.create({
      id,
      tenant,
      workspace_id: id,
      options,
      steps: [{ id: 'a', tool: 'log', args: { message: 'a' }, needs: [] }],
      created_at: new Date(now).toISOString(),
    });
    return run;
  };

  it('applies a transition and its status event atomically, and refuses one from the wrong status', async () => {
    const run = await create();
    const events = createEventLog({ redis: t.redis, prefix: t.prefix });
    const ok = await store.start(run.doc.id);
    expect(ok).toEqual({ gen: 1, at: new Date(now).toISOString() });
    const refused = await store.succeed(run.doc.id, 1, null);
    expect(refused).toEqual({ ok: false, reason: 'invalid', current: 'queued' });
    const history = await events.read(run.doc.id);
    expect(history.map((e) => [e.seq, e.type, e.status, e.previous])).toEqual([
      [1, 'status', 'created', null],
      [2, 'status', 'queued', 'created'],
    ]);
    expect((await store.oldestQueued())?.runId).toBe(run.doc.id);
  });

  it('leaves the same run, indexes and events when it creates and starts in one script as create then start do', async () => {
    // Everything Redis holds about one run of `tenant`, its own ids and timestamps masked.
    const footprint = async (runId: string, tenant: string) => {
      const mask = (s: string) => s.split(runId).join('<id>').replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<ts>');
      const keys = (await t.redis.keys(`${t.prefix}*`)).filter((k) => k.includes(runId) || k.includes(`tenant:${tenant}:`));
      const out: Record<string, unknown> = {};
      for (const k of keys.sort()) {
        const type = await t.redis.type(k);
        const v =
          type === 'hash' ? await t.redis.hgetall(k)
          : type === 'zset' ? await t.redis.zrange(k, 0, -1)
          : type === 'stream' ? ((await t.redis.xrange(k, '-', '+')) as [string, string[]][]).map(([, f]) => f)
          : await t.redis.get(k);
        out[mask(k)] = JSON.parse(mask(JSON.stringify(v)));
      }
      const indexes = await Promise.all(['queued', 'running', 'dlq'].map(async (i) => (await t.redis.zscore(`${t.prefix}${i}`, runId)) !== null));
      return { out, indexes };
    };
    const doc = (tenant: string) => {
      now += 1000;
      const id = newRunId(now);
      return { id, tenant, workspace_id: id, options, steps: [{ id: 'a', tool: 'log', args: { message: 'a' }, needs: [] }], created_at: new Date(now).toISOString() };
    };
    const twoSteps = doc('twostep');
    await store.create(twoSteps);
    await store.start(twoSteps.id);
    const oneScript = doc('onescript');
    const { run } = await store.create(oneScript, { start: true });
    expect(run).toMatchObject({ status: 'queued', gen: 1 });
    const a = await footprint(twoSteps.id, 'twostep');
    const b = await footprint(oneScript.id, 'onescript');
    expect(JSON.stringify(b).split('onescript').join('T')).toEqual(JSON.stringify(a).split('twostep').join('T'));
    expect(b.indexes).toEqual([true, false, false]);
    expect(await store.get(oneScript.id)).toEqual({ ...(await store.get(twoSteps.id))!, doc: oneScript, queued_at: expect.any(String) });
  });

  it("starts a run only for its own tenant: another tenant's is not found and left as it was", async () => {
    const run = await create();
    await expect(store.start(run.doc.id, undefined, 'someone-else')).rejects.toMatchObject({ code: 'not_found' });
    expect((await store.get(run.doc.id))?.status).toBe('created');
    expect((await createEventLog({ redis: t.redis, prefix: t.prefix }).read(run.doc.id)).map((e) => e.status)).toEqual(['created']);
    await expect(store.start('run_nope:steps', undefined, run.doc.tenant)).rejects.toMatchObject({ code: 'not_found' });
    expect(await store.start(run.doc.id, undefined, run.doc.tenant)).toMatchObject({ gen: 1 });
    await expect(store.start(run.doc.id, undefined, 'someone-else')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('reads whether a run ended with one HMGET: undefined for a run Redis does not hold', async () => {
    const run = await create();
    expect(await store.ended(run.doc.id)).toBe(false);
    expect(await store.ended('run_00000000000000000000000000')).toBeUndefined();
    await store.cancel(run.doc.id, { code: 'cancelled', message: 'x', retryable: false });
    expect(await store.end(run.doc.id)).toBe(true);
    expect(await store.ended(run.doc.id)).toBe(true);
  });

  it("finds a run's tenant, workspace and status without reading the run: undefined once Redis does not hold it", async () => {
    const run = await create('globex');
    expect(await store.head(run.doc.id)).toEqual({ tenant: 'globex', workspace_id: run.doc.id, status: 'created', options });
    await store.start(run.doc.id);
    expect((await store.head(run.doc.id))?.status).toBe('queued');
    expect(await store.head('run_00000000000000000000000000')).toBeUndefined();
    expect(await store.head(`${run.doc.id}:steps`)).toBeUndefined();
    await t.redis.del(`${t.prefix}run:${run.doc.id}`);
    expect(await store.head(run.doc.id)).toBeUndefined();
  });

  it('refuses transitions and checkpoints from a stale generation', async () => {
    const run = await create();
    await store.start(run.doc.id);
    expect(await store.pickup(run.doc.id, 0)).toMatchObject({ ok: false, reason: 'stale' });
    expect(await store.checkpoint(run.doc.id, 'a', { status: 'running', attempts: 1 }, { expectGen: 0 })).toBe('stale');
    expect(await store.checkpoint(run.doc.id, 'a', { status: 'running', attempts: 1 }, { expectGen: 1 })).toBe('ok');
  });

  it("pickup takes the tenant's slot in the same step: without a free one nothing changes, and succeed gives it back", async () => {
    const slotsKey = `${t.prefix}tenant:slotted:slots`;
    const slot = { limit: 1, leaseMs: 30_000 };
    const [a, b] = [await create('slotted'), await create('slotted')];
    await store.start(a.doc.id);
    await store.start(b.doc.id);
    // A stale job takes no slot.
    expect(await store.pickup(a.doc.id, 0, slot)).toMatchObject({ ok: false, reason: 'stale' });
    expect(await t.redis.zcard(slotsKey)).toBe(0);
    expect(await store.pickup(a.doc.id, 1, slot)).toMatchObject({ ok: true });
    expect(await store.pickup(b.doc.id, 1, slot)).toEqual({ ok: false, reason: 'no_slot', current: 'queued' });
    const held = await store.get(b.doc.id);
    expect(held).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await t.redis.zrange(slotsKey, 0, -1)).toEqual([a.doc.id]);
    // Another tenant's slots are its own.
    const other = await create('other');
    await store.start(other.doc.id);
    expect(await store.pickup(other.doc.id, 1, slot)).toMatchObject({ ok: true });
    expect(await store.succeed(a.doc.id, 1, null, undefined, { releaseSlot: true })).toMatchObject({ ok: true });
    expect(await t.redis.zcard(slotsKey)).toBe(0);
    expect(await store.pickup(b.doc.id, 1, slot)).toMatchObject({ ok: true, attempts: 1 });
  });

  it('emits end once per terminal episode and only for a terminal run', async () => {
    const run = await create();
    expect(await store.end(run.doc.id)).toBe(false);
    await store.cancel(run.doc.id, cancelled);
    expect(await store.end(run.doc.id)).toBe(true);
    expect(await store.end(run.doc.id)).toBe(false);
    await store.retry(run.doc.id);
    await store.cancel(run.doc.id, cancelled);
    expect(await store.end(run.doc.id)).toBe(true);
  });

  it('pickup and succeed hand back the run as they left it, and end hands back the unarchived events, end last', async () => {
    const run = await create();
    await store.start(run.doc.id);
    const picked = await store.pickup(run.doc.id, 1);
    if (!picked.ok) throw new Error('pickup refused');
    expect(picked.run).toMatchObject({ status: 'running', attempts: 1, gen: 1, started_at: new Date(now).toISOString() });
    expect(picked.run.steps.a).toEqual({ status: 'pending', attempts: 0 });
    await store.checkpoint(run.doc.id, 'a', { status: 'succeeded', attempts: 1, output: 'x' }, { expectGen: 1 });
    const done = await store.succeed(run.doc.id, 1, { a: 'x' });
    if (!done.ok) throw new Error('succeed refused');
    expect(done.run).toMatchObject({ status: 'succeeded', result: { a: 'x' }, ended: false });
    expect(done.run.steps.a).toMatchObject({ status: 'succeeded', output: 'x' });
    // created, queued, running, succeeded: none archived yet.
    expect(done.unarchived).toBe(4);
    const tail = await store.endWithTail(run.doc.id, 100);
    expect(tail?.archivedSeq).toBe(0);
    expect(tail?.streamLength).toBe(5);
    expect(tail?.entries.map(([id]) => id).at(-1)).toBe(tail?.endId);
    expect(tail?.entries).toHaveLength(5);
    expect(await store.endWithTail(run.doc.id, 100)).toBeUndefined();
  });

  it('succeed with the last step’s checkpoint writes the step, its event, then the status in one step; keeps the step when cancelled meanwhile, refuses both when stale', async () => {
    const events = createEventLog({ redis: t.redis, prefix: t.prefix });
    const last = (attempts: number) => ({
      stepId: 'a',
      state: { status: 'succeeded' as const, attempts, output: 'done' },
      event: { step_id: 'a', tool: 'log', phase: 'succeeded' as const, attempt: attempts },
    });
    const run = await create();
    await store.start(run.doc.id);
    await store.pickup(run.doc.id, 1);
    const done = await store.succeed(run.doc.id, 1, 'done', last(1));
    expect(done).toMatchObject({ ok: true, run: { status: 'succeeded', steps: { a: { status: 'succeeded', output: 'done' } } } });
    expect((await events.read(run.doc.id)).slice(-2).map((e) => [e.type, e.phase ?? e.status])).toEqual([
      ['step', 'succeeded'],
      ['status', 'succeeded'],
    ]);

    // Cancelled while its last step finished: the step's success is kept (a retry skips it).
    const cancelledRun = await create();
    await store.start(cancelledRun.doc.id);
    await store.pickup(cancelledRun.doc.id, 1);
    await store.cancel(cancelledRun.doc.id, cancelled);
    expect(await store.succeed(cancelledRun.doc.id, 1, 'done', last(1))).toEqual({ ok: false, reason: 'invalid', current: 'cancelled' });
    expect((await store.get(cancelledRun.doc.id))?.steps.a).toMatchObject({ status: 'succeeded' });

    // Re-enqueued meanwhile (generation 2): this attempt writes nothing.
    const stale = await create();
    await store.start(stale.doc.id);
    await store.pickup(stale.doc.id, 1);
    await store.recover(stale.doc.id, 1, 'zombie');
    expect(await store.succeed(stale.doc.id, 1, 'done', last(1))).toEqual({ ok: false, reason: 'stale', current: 'queued' });
    expect((await store.get(stale.doc.id))?.steps.a).toMatchObject({ status: 'pending' });
  });

  it('lists a tenant’s runs newest first across pages, filtered by status, never another tenant’s', async () => {
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await create('listco'));
    await create('otherco');
    await store.cancel(mine[1]!.doc.id, cancelled);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list('listco', { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.runs.map((r) => r.doc.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(mine.map((r) => r.doc.id).reverse());
    const page = await store.list('listco', { limit: 10, status: 'cancelled' });
    expect(page.runs.map((r) => r.doc.id)).toEqual([mine[1]!.doc.id]);
    expect(page.next_cursor).toBeUndefined();
  });

  it('creates and queues a run in one step when asked to start it, exactly as a start would', async () => {
    now += 1000;
    const id = newRunId(now);
    const { run, created } = await store.create(
      { id, tenant: 'acme', workspace_id: id, options, steps: [{ id: 'a', tool: 'log', args: { message: 'a' }, needs: [] }], created_at: new Date(now).toISOString() },
      { start: true },
    );
    expect(created).toBe(true);
    expect(run).toMatchObject({ status: 'queued', gen: 1, queued_at: new Date(now).toISOString() });
    expect(await store.get(id)).toMatchObject({ status: 'queued', gen: 1, attempts: 0, queued_at: new Date(now).toISOString() });
    const events = createEventLog({ redis: t.redis, prefix: t.prefix });
    expect((await events.read(id, { limit: 10 })).map((e) => [e.seq, e.type, (e as { status?: string }).status])).toEqual([
      [1, 'status', 'created'],
      [2, 'status', 'queued'],
    ]);
    expect(await t.redis.zscore(`${t.prefix}queued`, id)).toBe(String(now));
    // The worker's pickup sees a normal queued run of generation 1.
    expect((await store.pickup(id, 1)).ok).toBe(true);
  });

  it('refuses to queue beyond QUEUE_MAX_WAITING or the tenant’s max_queued_runs, and creates nothing then', async () => {
    const full = createRunStore({ redis: t.redis, prefix: `${t.prefix}bp:`, now: () => now });
    const doc = (tenant: string) => {
      now += 1000;
      const id = newRunId(now);
      return { id, tenant, workspace_id: id, options, steps: [{ id: 'a', tool: 'log', args: { message: 'a' }, needs: [] }], created_at: new Date(now).toISOString() };
    };
    const limits = { maxWaiting: 3, maxTenantQueued: 2 };
    await full.create(doc('bp1'), { start: true, limits });
    await full.create(doc('bp1'), { start: true, limits });
    const refused = doc('bp1');
    await expect(full.create(refused, { start: true, limits, idempotency: { key: 'k1', fingerprint: 'f' } })).rejects.toMatchObject({
      code: 'queue_full',
      status: 429,
      message: expect.stringContaining('max_queued_runs'),
    });
    // Nothing half-created: no run, no index entry, no idempotency key.
    expect(await full.get(refused.id)).toBeUndefined();
    expect((await full.list('bp1', { limit: 10 })).runs).toHaveLength(2);
    expect(await t.redis.keys(`${t.prefix}bp:idem:*`)).toEqual([]);
    // Another tenant still fits under the deployment's limit, then the whole queue is full.
    await full.create(doc('bp2'), { start: true, limits });
    await expect(full.create(doc('bp3'), { start: true, limits })).rejects.toMatchObject({ code: 'queue_full', message: expect.stringContaining('QUEUE_MAX_WAITING') });
    // A created run can still be made; starting it is refused the same way.
    const later = doc('bp3');
    await full.create(later, { limits });
    await expect(full.start(later.id, limits)).rejects.toMatchObject({ code: 'queue_full' });
    expect(await full.status(later.id)).toBe('created');
  });

  it('applies every operation from exactly the statuses the transition table lists', async () => {
    const error = { code: 'x', message: 'x', retryable: false };
    const ops: Record<TransitionName, (id: string) => Promise<boolean>> = {
      start: async (id) => store.start(id).then(() => true, () => false),
      pickup: async (id) => (await store.pickup(id, 5)).ok,
      succeed: async (id) => (await store.succeed(id, 5, null)).ok,
      fail: async (id) => (await store.fail(id, 5, error)).ok,
      deadLetter: async (id) => (await store.deadLetter(id, error, 5)).ok,
      handBack: async (id) => (await store.handBack(id, 5, { level: 'warn', message: 'm' })).ok,
      recover: async (id) => (await store.recover(id, 5, 'm')).ok,
      awaitApproval: async (id) => (await store.awaitApproval(id, 5, { step_id: 'a' })).ok,
      decide: async (id) => store.decide(id, 'a', { decision: 'approved', decided_at: 'now' }, {}).then(() => true, () => false),
      cancel: async (id) => (await store.cancel(id, error)).ok,
      retry: async (id) => (await store.retry(id, 'retry')).ok,
      replay: async (id) => (await store.retry(id, 'replay')).ok,
    };
    const seen: string[] = [];
    const expected: string[] = [];
    for (const name of Object.keys(TRANSITIONS) as TransitionName[]) {
      for (const from of RUN_STATUSES) {
        const run = await create();
        // Put the run in `from` directly (test only), at generation 5, its step waiting for a decision.
        await t.redis.hset(`${t.prefix}run:${run.doc.id}`, 'status', from, 'gen', 5);
        await t.redis.hset(`${t.prefix}run:${run.doc.id}:steps`, 'a', JSON.stringify({ status: 'awaiting_approval', attempts: 0 }));
        const ok = await ops[name](run.doc.id);
        const to: RunStatus | undefined = ok ? await store.status(run.doc.id) : undefined;
        seen.push(`${name} ${from} -> ${ok ? to : 'refused'}`);
        const allowed = (TRANSITIONS[name].from as readonly RunStatus[]).includes(from);
        expected.push(`${name} ${from} -> ${allowed ? TRANSITIONS[name].to : 'refused'}`);
      }
    }
    expect(seen).toEqual(expected);
  });

  it('hides another tenant’s run behind not_found', async () => {
    const run = await create('acme');
    await expect(store.getForTenant('globex', run.doc.id)).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});
