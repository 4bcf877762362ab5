import { newRunId, type RunOptions } from '@agentyard/core';
import { createEventLog } from '@agentyard/events';
import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { createRunStore, type RunStore } from './run-store';

const options: RunOptions = { priority: 'normal', max_attempts: 3, timeout_s: 60, max_steps: 10, approval: 'never' };

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
    const ok = await store.transition(run.doc.id, 'start', { bumpGen: true });
    expect(ok).toEqual({ ok: true, previous: 'created', gen: 1, attempts: 0, at: new Date(now).toISOString() });
    const refused = await store.transition(run.doc.id, 'succeed');
    expect(refused).toEqual({ ok: false, reason: 'invalid', current: 'queued' });
    const history = await events.read(run.doc.id);
    expect(history.map((e) => [e.seq, e.type, e.status, e.previous])).toEqual([
      [1, 'status', 'created', null],
      [2, 'status', 'queued', 'created'],
    ]);
    expect((await store.oldestQueued())?.runId).toBe(run.doc.id);
  });

  it('refuses transitions and checkpoints from a stale generation', async () => {
    const run = await create();
    await store.transition(run.doc.id, 'start', { bumpGen: true });
    expect(await store.transition(run.doc.id, 'pickup', { expectGen: 0 })).toMatchObject({ ok: false, reason: 'stale' });
    expect(await store.checkpoint(run.doc.id, 'a', { status: 'running', attempts: 1 }, { expectGen: 0 })).toBe('stale');
    expect(await store.checkpoint(run.doc.id, 'a', { status: 'running', attempts: 1 }, { expectGen: 1 })).toBe('ok');
  });

  it('emits end once per terminal episode and only for a terminal run', async () => {
    const run = await create();
    expect(await store.end(run.doc.id)).toBe(false);
    await store.transition(run.doc.id, 'cancel');
    expect(await store.end(run.doc.id)).toBe(true);
    expect(await store.end(run.doc.id)).toBe(false);
    await store.transition(run.doc.id, 'retry', { bumpGen: true, del: ['ended'] });
    await store.transition(run.doc.id, 'cancel');
    expect(await store.end(run.doc.id)).toBe(true);
  });

  it('lists a tenant’s runs newest first across pages, filtered by status, never another tenant’s', async () => {
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await create('listco'));
    await create('otherco');
    await store.transition(mine[1]!.doc.id, 'cancel');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list('listco', { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.runs.map((r) => r.doc.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(mine.map((r) => r.doc.id).reverse());
    const cancelled = await store.list('listco', { limit: 10, status: 'cancelled' });
    expect(cancelled.runs.map((r) => r.doc.id)).toEqual([mine[1]!.doc.id]);
    expect(cancelled.next_cursor).toBeUndefined();
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
    expect((await store.transition(id, 'pickup', { bumpAttempts: true, expectGen: 1 })).ok).toBe(true);
  });

  it('hides another tenant’s run behind not_found', async () => {
    const run = await create('acme');
    await expect(store.getForTenant('globex', run.doc.id)).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});
