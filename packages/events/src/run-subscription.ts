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
  const sub = new OpenRunSubscription(opts);
  if (opts.live) sub.unsubscribe = await opts.live.subscribe(opts.runId, sub.onLive, sub.onResync);
  try {
    if (opts.cursor !== undefined && (await opts.history.isExpired(opts.runId, opts.cursor))) {
      sub.reset = true;
      sub.lastId = undefined;
    }
  } catch (err) {
    sub.unsubscribe?.();
    throw err;
  }
  return { state: 'open', subscription: sub };
}

/**
 * The open subscription's state as one object with its steps as methods: a stream stays open
 * for minutes or hours, and a server holds thousands, so what one keeps matters. (It was a
 * dozen closures over one context, about 1 KB per stream; now one object and two bound
 * callbacks for the live side.)
 */
class OpenRunSubscription implements RunSubscription {
  lastId: string | undefined;
  reset = false;
  unsubscribe: (() => void) | undefined;
  private sink: RunSink | undefined;
  // Live events wait here while history is being read; null while live events flow straight.
  private buffer: RunEvent[] | null = [];
  // The last event delivered was an `end`: final unless more follows in this catch-up.
  private endLast = false;
  private outcome: RunStreamOutcome | undefined;
  private settle!: (o: RunStreamOutcome) => void;
  private readonly done: Promise<RunStreamOutcome>;
  private queuedSyncs = 0;
  // Catch-ups wait for start(): the sink exists and the reset notice went first.
  private started!: () => void;
  private syncing: Promise<void>;

  constructor(private readonly opts: RunSubscriptionOptions) {
    this.lastId = opts.cursor;
    this.done = new Promise<RunStreamOutcome>((resolve) => (this.settle = resolve));
    this.syncing = new Promise<void>((resolve) => (this.started = resolve));
  }

  /** The live side's listener: buffered while history is read, delivered straight after. */
  readonly onLive = (e: RunEvent): void => {
    if (this.buffer) this.buffer.push(e);
    else this.deliver(e);
  };

  /** The live side lost events (its connection dropped): catch up from history. */
  readonly onResync = (): void => this.resync();

  start(s: RunSink): Promise<RunStreamOutcome> {
    if (this.sink) throw new Error('a run subscription starts once');
    this.sink = s;
    if (this.outcome) return this.done;
    if (this.reset) s.reset({ run_id: this.opts.runId, type: 'reset', reason: 'cursor is older than the retained history; replaying from the oldest event' });
    this.resync();
    this.started();
    this.afterFirstSync().catch(() => this.finish('error'));
    return this.done;
  }

  close(): void {
    this.finish('closed');
  }

  private async afterFirstSync(): Promise<void> {
    await this.syncing;
    if (this.outcome) return;
    if (!this.opts.live) return this.finish('ended');
    // The run ended before or during the first read: `end` and everything before it are
    // in history by now (one script writes both), so read what is left and stop.
    if (await this.opts.ended()) {
      this.resync();
      await this.syncing;
      this.finish('ended');
    }
  }

  private finish(o: RunStreamOutcome): void {
    if (this.outcome) return;
    this.outcome = o;
    this.unsubscribe?.();
    this.settle(o);
  }

  private deliver(e: RunEvent): void {
    if (this.outcome || !this.sink) return;
    if (this.lastId !== undefined && compareIds(e.id, this.lastId) <= 0) return;
    this.lastId = e.id;
    this.sink.event(e);
    this.endLast = e.type === 'end';
    // Live, nothing is queued behind it; during a catch-up, the catch-up decides at its end.
    if (this.endLast && this.buffer === null) this.finish('ended');
  }

  private resync(): void {
    if (this.outcome) return;
    this.queuedSyncs += 1;
    this.buffer = this.buffer ?? [];
    this.syncing = this.syncing
      .then(() => {
        this.queuedSyncs -= 1;
        return this.catchUp();
      })
      .catch(() => this.finish('error')); // the client resumes from the last id it got and loses nothing
  }

  private async catchUp(): Promise<void> {
    if (this.outcome) return;
    this.buffer = this.buffer ?? [];
    const { runId, history } = this.opts;
    const pageSize = this.opts.pageSize ?? 500;
    for (;;) {
      const page = await history.read(runId, { ...(this.lastId !== undefined ? { after: this.lastId } : {}), limit: pageSize });
      for (const e of page) this.deliver(e);
      if (this.outcome || page.length < pageSize) break;
    }
    if (this.queuedSyncs > 0 || this.outcome) return;
    // Synchronous from here: no live event can slip in between the flush and `buffer = null`.
    for (const e of this.buffer) this.deliver(e);
    this.buffer = null;
    if (this.endLast) this.finish('ended');
  }
}
