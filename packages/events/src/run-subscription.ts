import type { RunEvent } from '@agentyard/core';
import { compareIds } from './event-codec';
import type { EventFanout } from './event-fanout';
import type { RunHistory } from './run-history';

/**
 * One run's events for one client: replay history, then go live, with no gap and no
 * duplicate. The protocol behind the SSE route, apart from HTTP (see README.md).
 *
 * 1. A client that already has the run's `end` gets nothing: `after_end` (HTTP 204).
 * 2. Subscribe to the live channel first, buffering what arrives, so nothing published
 *    while history is read can be missed.
 * 3. A cursor older than the retained history: `reset`, and replay from the oldest entry.
 * 4. Read history after the cursor in pages, then flush the buffer; every event whose id is
 *    not greater than the last one delivered is skipped, so one that is both in history and
 *    in the buffer goes out once.
 * 5. When the live side lost its Redis connection (`onResync`), live events buffer again
 *    while history after the last delivered id is read: catch-ups run one after another,
 *    and one with another queued behind it leaves the buffer to that one, so no live event
 *    overtakes history not delivered yet.
 * 6. The subscription is over after the `end` that is the run's last event. An `end`
 *    followed by more history (the run was retried since) is delivered and the replay goes
 *    on. Without a live side (history from an archive) it is over once history is replayed.
 */
export interface RunSubscriptionOptions {
  runId: string;
  /** The id of the last event the client has (Last-Event-ID); from the start when absent. */
  cursor?: string;
  history: RunHistory;
  /** The live side; absent when no new event can come (history served from an archive). */
  live?: Pick<EventFanout, 'subscribe'>;
  /** Whether the run's current `end` exists (a retry takes it back until the next end). */
  ended(): Promise<boolean>;
  /** Events per history read. @default 500 */
  pageSize?: number;
}

/** What a cursor older than the retained history gets before the replay restarts. */
export interface ResetNotice {
  run_id: string;
  type: 'reset';
  reason: string;
}

export interface RunSink {
  /** One event; ids strictly increase across calls. */
  event(e: RunEvent): void;
  /** The client's cursor was trimmed away: the events that follow restart at the oldest retained one. */
  reset(notice: ResetNotice): void;
}

/** `ended`: the run's last `end` was delivered (or, without live side, all history); `closed`: by close(); `error`: reading failed. */
export type RunStreamOutcome = 'ended' | 'closed' | 'error';

export interface RunSubscription {
  /** Delivers to `sink` from now on; resolves with how the subscription ended. Call once. */
  start(sink: RunSink): Promise<RunStreamOutcome>;
  /** Stops delivery and releases the live listener; idempotent. */
  close(): void;
}

export type RunSubscribeResult = { state: 'after_end' } | { state: 'open'; subscription: RunSubscription };

/**
 * True when the run has ended and nothing follows the cursor: the client has the `end`.
 * After a retry `ended` is false, or events follow the old `end`, so the client gets them.
 */
export async function resumesAfterEnd(opts: Pick<RunSubscriptionOptions, 'runId' | 'cursor' | 'history' | 'ended'>): Promise<boolean> {
  if (!(await opts.ended())) return false;
  const next = await opts.history.read(opts.runId, { ...(opts.cursor !== undefined ? { after: opts.cursor } : {}), limit: 1 });
  return next.length === 0;
}

/**
 * Opens the subscription: the `after_end` decision, the live subscription and the cursor
 * check happen here, before anything is delivered, so a caller can still answer with a
 * status code (204, or an error when Redis is down: this rejects and holds nothing).
 */
export async function subscribeRun(opts: RunSubscriptionOptions): Promise<RunSubscribeResult> {
  if (await resumesAfterEnd(opts)) return { state: 'after_end' };
  const { runId, history, live } = opts;
  const pageSize = opts.pageSize ?? 500;

  let sink: RunSink | undefined;
  let lastId = opts.cursor;
  // Live events wait here while history is being read; null while live events flow straight.
  let buffer: RunEvent[] | null = [];
  // The last event delivered was an `end`: final unless more follows in this catch-up.
  let endLast = false;
  let outcome: RunStreamOutcome | undefined;
  let settle!: (o: RunStreamOutcome) => void;
  const done = new Promise<RunStreamOutcome>((resolve) => (settle = resolve));
  let unsubscribe: (() => void) | undefined;

  const finish = (o: RunStreamOutcome) => {
    if (outcome) return;
    outcome = o;
    unsubscribe?.();
    settle(o);
  };

  const deliver = (e: RunEvent) => {
    if (outcome || !sink) return;
    if (lastId !== undefined && compareIds(e.id, lastId) <= 0) return;
    lastId = e.id;
    sink.event(e);
    endLast = e.type === 'end';
    // Live, nothing is queued behind it; during a catch-up, the catch-up decides at its end.
    if (endLast && buffer === null) finish('ended');
  };

  let queuedSyncs = 0;
  const catchUp = async () => {
    if (outcome) return;
    buffer = buffer ?? [];
    for (;;) {
      const page = await history.read(runId, { ...(lastId !== undefined ? { after: lastId } : {}), limit: pageSize });
      for (const e of page) deliver(e);
      if (outcome || page.length < pageSize) break;
    }
    if (queuedSyncs > 0 || outcome) return;
    // Synchronous from here: no live event can slip in between the flush and `buffer = null`.
    for (const e of buffer) deliver(e);
    buffer = null;
    if (endLast) finish('ended');
  };
  // Catch-ups wait for start(): the sink exists and the reset notice went first.
  let started!: () => void;
  let syncing = new Promise<void>((resolve) => (started = resolve));
  const resync = () => {
    if (outcome) return;
    queuedSyncs += 1;
    buffer = buffer ?? [];
    syncing = syncing
      .then(() => {
        queuedSyncs -= 1;
        return catchUp();
      })
      .catch(() => finish('error')); // the client resumes from the last id it got and loses nothing
  };

  if (live) unsubscribe = await live.subscribe(runId, (e) => (buffer ? buffer.push(e) : deliver(e)), resync);
  let reset = false;
  try {
    if (opts.cursor !== undefined && (await history.isExpired(runId, opts.cursor))) {
      reset = true;
      lastId = undefined;
    }
  } catch (err) {
    unsubscribe?.();
    throw err;
  }

  const subscription: RunSubscription = {
    start(s) {
      if (sink) throw new Error('a run subscription starts once');
      sink = s;
      if (outcome) return done;
      if (reset) s.reset({ run_id: runId, type: 'reset', reason: 'cursor is older than the retained history; replaying from the oldest event' });
      resync();
      started();
      void (async () => {
        await syncing;
        if (outcome) return;
        if (!live) return finish('ended');
        // The run ended before or during the first read: `end` and everything before it are
        // in history by now (one script writes both), so read what is left and stop.
        if (await opts.ended()) {
          resync();
          await syncing;
          finish('ended');
        }
      })().catch(() => finish('error'));
      return done;
    },
    close: () => finish('closed'),
  };
  return { state: 'open', subscription };
}
