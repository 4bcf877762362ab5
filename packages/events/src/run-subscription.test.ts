import { newRunId, type RunEvent } from '@agentyard/core';
import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { waitFor } from '../../../tests/helpers/wait-for';
import { createEventFanout, type EventFanout } from './event-fanout';
import { createEventLog, type EventLog } from './event-log';
import { createMemoryHistory, type RunHistory } from './run-history';
import { subscribeRun, type ResetNotice, type RunStreamOutcome, type RunSubscriptionOptions } from './run-subscription';

/** What a client of the subscription receives, in order, and how it ended. */
function collect() {
  const events: RunEvent[] = [];
  const resets: ResetNotice[] = [];
  return {
    events,
    resets,
    seqs: () => events.map((e) => e.seq),
    sink: { event: (e: RunEvent) => events.push(e), reset: (n: ResetNotice) => resets.push(n) },
  };
}

async function open(opts: RunSubscriptionOptions) {
  const r = await subscribeRun(opts);
  if (r.state !== 'open') throw new Error(`expected an open subscription, got ${r.state}`);
  return r.subscription;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('run subscription on Redis: replay then live', () => {
  let t: TestRedis;
  let fanout: EventFanout;
  let log: EventLog;
  let subscriberId: number;
  beforeAll(async () => {
    t = testRedis('runsub');
    const subscriber = t.connect();
    subscriberId = Number(await subscriber.client('ID'));
    fanout = createEventFanout({ subscriber, prefix: t.prefix });
    log = createEventLog({ redis: t.redis, prefix: t.prefix, maxLen: 1000 });
  });
  afterAll(() => t.cleanup());

  /** A run whose `ended` flag follows the events appended through it, as END_LUA and a retry do. */
  const run = () => {
    const runId = newRunId();
    let ended = false;
    return {
      runId,
      ended: async () => ended,
      append: async (type: 'log' | 'status' | 'end', payload: Record<string, unknown> = {}) => {
        const id = await log.append(runId, type, payload);
        ended = type === 'end';
        return id;
      },
    };
  };

  it('replays history in pages while events keep arriving, then goes live: every event once, in order, ending at end', async () => {
    const r = run();
    for (let i = 0; i < 30; i++) await r.append('log', { message: `old ${i}` });
    const c = collect();
    const sub = await open({ runId: r.runId, history: log, live: fanout, ended: r.ended, pageSize: 4 });
    // Appends race the paged replay: each lands in history, in the live buffer, or both.
    const racing = (async () => {
      for (let i = 0; i < 30; i++) await r.append('log', { message: `new ${i}` });
    })();
    const done = sub.start(c.sink);
    await racing;
    await waitFor(() => c.events.length >= 60, { label: 'the 60 events before end' });
    await r.append('end', { status: 'succeeded' });
    expect(await done).toBe<RunStreamOutcome>('ended');
    expect(c.seqs()).toEqual(range(1, 61));
    expect(c.events.at(-1)!.type).toBe('end');
    expect(fanout.listenerCount()).toBe(0);
  });

  it('answers after_end to a cursor at the end of an ended run, but delivers the new events once the run was retried', async () => {
    const r = run();
    await r.append('log', { message: 'one' });
    const endId = await r.append('end', { status: 'cancelled' });
    expect((await subscribeRun({ runId: r.runId, cursor: endId, history: log, live: fanout, ended: r.ended })).state).toBe('after_end');
    expect(fanout.listenerCount()).toBe(0);

    // A retry clears `ended` and appends its status event; the old end is no longer the last.
    await r.append('status', { status: 'queued', previous: 'cancelled' });
    const c = collect();
    const sub = await open({ runId: r.runId, cursor: endId, history: log, live: fanout, ended: r.ended });
    const done = sub.start(c.sink);
    await waitFor(() => c.events.length === 1, { label: 'the status event of the retry' });
    await r.append('log', { message: 'two' });
    await r.append('end', { status: 'succeeded' });
    expect(await done).toBe('ended');
    expect(c.seqs()).toEqual([3, 4, 5]);
  });

  it('replays a retried run from the start past its first end, stopping only at the last one', async () => {
    const r = run();
    await r.append('log');
    await r.append('end', { status: 'dead_lettered' });
    await r.append('status', { status: 'queued', previous: 'dead_lettered' });
    await r.append('log');
    await r.append('end', { status: 'succeeded' });
    const c = collect();
    // Page size 2 puts the first end last in a full page.
    const sub = await open({ runId: r.runId, history: log, live: fanout, ended: r.ended, pageSize: 2 });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.events.map((e) => e.type)).toEqual(['log', 'end', 'status', 'log', 'end']);
  });

  it('sends reset and replays from the oldest retained event when the cursor was trimmed away', async () => {
    const short = createEventLog({ redis: t.redis, prefix: t.prefix, maxLen: 5 });
    const runId = newRunId();
    const first = await short.append(runId, 'log', { message: '1' });
    for (let i = 2; i <= 11; i++) await short.append(runId, 'log', { message: String(i) });
    await short.append(runId, 'end', { status: 'succeeded' });
    const c = collect();
    const sub = await open({ runId, cursor: first, history: short, live: fanout, ended: async () => true });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.resets).toHaveLength(1);
    expect(c.seqs()).toEqual(range(8, 12));
  });

  it('catches up from history after the live side lost its Redis connection: no event lost, none twice, none overtaken', async () => {
    const r = run();
    let resyncs = 0;
    const counting: RunSubscriptionOptions['live'] = {
      subscribe: (id, listener, onResync) =>
        fanout.subscribe(id, listener, () => {
          resyncs += 1;
          onResync?.();
        }),
    };
    const c = collect();
    const sub = await open({ runId: r.runId, history: log, live: counting, ended: r.ended, pageSize: 3 });
    const done = sub.start(c.sink);
    await r.append('log', { message: 'before' });
    await waitFor(() => c.events.length === 1, { label: 'the first live event' });

    // Publish through the drop and the reconnect: what pub/sub loses must come from history.
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await r.append('log', { message: 'during' });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    await t.redis.client('KILL', 'ID', String(subscriberId));
    await waitFor(() => resyncs >= 1, { label: 'the fanout to resubscribe and ask for a catch-up' });
    const atResync = c.events.length;
    await waitFor(() => c.events.length > atResync + 5, { label: 'live events after the resync' });
    publishing = false;
    await publisher;
    await r.append('end', { status: 'succeeded' });
    expect(await done).toBe('ended');
    expect(c.seqs()).toEqual(range(1, c.events.length));
    expect(c.events.at(-1)!.type).toBe('end');
  });

  it('releases the live listener when closed, before or after start', async () => {
    const r = run();
    await r.append('log');
    const early = await open({ runId: r.runId, history: log, live: fanout, ended: r.ended });
    expect(fanout.listenerCount()).toBe(1);
    early.close();
    expect(fanout.listenerCount()).toBe(0);
    expect(await early.start(collect().sink)).toBe('closed');

    const c = collect();
    const late = await open({ runId: r.runId, history: log, live: fanout, ended: r.ended });
    const done = late.start(c.sink);
    await waitFor(() => c.events.length === 1, { label: 'the replayed event' });
    late.close();
    expect(await done).toBe('closed');
    expect(fanout.listenerCount()).toBe(0);
  });
});

describe('run subscription on a history that is not Redis (in-memory, no live side)', () => {
  const runId = 'run_archived';
  const at = (seq: number, type: RunEvent['type'] = 'log'): RunEvent => ({
    id: `${1700000000000 + seq}-0`,
    run_id: runId,
    seq,
    ts: new Date(1700000000000 + seq).toISOString(),
    type,
    ...(type === 'end' ? { status: 'succeeded' } : { level: 'info', message: `line ${seq}` }),
  });
  const archived = [...range(1, 11).map((s) => at(s)), at(12, 'end')];
  const history: RunHistory = createMemoryHistory(archived);

  it('replays from the cursor in pages and ends after the end event', async () => {
    const c = collect();
    const sub = await open({ runId, cursor: archived[4]!.id, history, ended: async () => true, pageSize: 3 });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.seqs()).toEqual(range(6, 12));
    expect(c.resets).toEqual([]);
  });

  it('replays everything to a client without a cursor and answers after_end to one at the end', async () => {
    const c = collect();
    const sub = await open({ runId, history, ended: async () => true });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.seqs()).toEqual(range(1, 12));
    expect((await subscribeRun({ runId, cursor: archived.at(-1)!.id, history, ended: async () => true })).state).toBe('after_end');
  });

  it('sends reset when the held history lost its oldest events and the cursor is older', async () => {
    const trimmed = createMemoryHistory(archived.slice(6));
    const c = collect();
    const sub = await open({ runId, cursor: archived[1]!.id, history: trimmed, ended: async () => true });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.resets).toHaveLength(1);
    expect(c.seqs()).toEqual(range(7, 12));
  });

  it('ends once history is replayed even when the archive holds no end (nothing live can follow)', async () => {
    const c = collect();
    const sub = await open({ runId, history: createMemoryHistory(archived.slice(0, 5)), ended: async () => false });
    expect(await sub.start(c.sink)).toBe('ended');
    expect(c.seqs()).toEqual(range(1, 5));
  });
});
