import type { Response } from 'express';
import type { RunEvent } from '@agentyard/core';
import { subscribeRun, type RunHistory, type RunSubscriptionOptions } from '@agentyard/events';
import type { ApiMetrics } from '@agentyard/observability';
import type { SseHeartbeat } from './heartbeat';

/**
 * The SSE writer: HTTP around the run subscription of @agentyard/events, which owns the
 * protocol (replay then live, no gap, no duplicate, reset, resync, end).
 *
 * - A client that already has the run's `end` gets 204 No Content: the EventSource
 *   standard's way to stop a client reconnecting. A 200 with an empty body would make it
 *   reconnect every few seconds forever.
 * - Every stream opens with `retry:`, the delay an EventSource waits before it reconnects
 *   (after `end` the server closes, and the reconnect it makes is answered 204).
 * - Frames: `id:` the stream entry id, `event:` the type, `data:` the event without its id;
 *   `reset` has no id, so the client's Last-Event-ID stays on the last real event.
 * - A comment heartbeat (one timer for all streams, see heartbeat.ts); a client that goes
 *   away leaves no listener behind.
 * - A client that stops reading is cut off (SlowClientLimit): its socket is destroyed (what
 *   waited is dropped), and the EventSource reconnects with the last id it got, so it loses
 *   nothing, and the API stops holding what it does not take.
 * Opening the subscription (live subscribe, cursor check) happens before any header, so a
 * Redis outage is still a 503 with an error envelope, not a 200 that closes at once.
 */
export interface RunStreamDeps {
  history: RunHistory;
  live?: RunSubscriptionOptions['live'];
  metrics: ApiMetrics;
  heartbeat: SseHeartbeat;
  /** Whether the stream's run's current `end` event exists (cleared by a retry). */
  ended(): Promise<boolean>;
  /** When a client that does not read is cut off; none: never. */
  slowClient?: SlowClientLimit;
}

/**
 * A stream whose client leaves more than `maxBufferedBytes` waiting in the API (its socket's
 * kernel buffers full) for `stalledMs` is closed. Without it one stalled client of a chatty run
 * held every later event in the API's memory for as long as the run went on. The time, not the
 * size alone: a replay writes a page of history at once, which a client that reads takes in a
 * moment.
 */
export interface SlowClientLimit {
  maxBufferedBytes: number;
  stalledMs: number;
}

/** SSE_MAX_BUFFERED_KB and SSE_STALLED_S's defaults, for deps built without a config. */
export const DEFAULT_SLOW_CLIENT: SlowClientLimit = { maxBufferedBytes: 1024 * 1024, stalledMs: 30_000 };

/**
 * One frame per event object: the fan-out hands the same object to every client following a
 * run, so 1,000 clients cost one JSON.stringify per event, not 1,000 (the fan-out's p99 in
 * the bench). Replayed history events are objects of their own and are serialized once each.
 */
const frames = new WeakMap<RunEvent, string>();
function frameOf(e: RunEvent): string {
  let frame = frames.get(e);
  if (frame === undefined) {
    const { id, ...data } = e;
    frame = `id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`;
    frames.set(e, frame);
  }
  return frame;
}

/** The reconnect delay sent as `retry:`: short enough to resume quickly after a drop. */
export const SSE_RETRY_MS = 1000;

/** Node's symbol for a response's header map (set while headers may still change). */
let outHeaders: symbol | undefined;

/**
 * What a response keeps for its whole life that an open stream no longer needs, 3.7 KB per
 * stream in a heap snapshot, where the bare fan-out's streams hold 9 KB in all:
 *
 * - the header block it sent, `res._header`, built by concatenation: a rope of about 80 pieces
 *   (every name, value and separator of helmet's, the rate limit's and the stream's headers),
 *   about three times the size of the same text as one flat string. Headers are latin1 on the
 *   wire, so the round trip through a Buffer is exact;
 * - the header map those were sent from (about 19 [name, value] arrays, 2.1 KB): sent, it is
 *   only read by getHeader(), which answers undefined for a response that has none, as
 *   before its first setHeader();
 * - the request's `next`: Express's router leaves its last `next` closure there, and with it
 *   the contexts of both routers the request went through (1.5 KB). The handler has returned;
 *   nothing calls it.
 */
function dropSentState(res: Response): void {
  const out = res as unknown as Record<string | symbol, unknown>;
  if (typeof out._header === 'string') out._header = Buffer.from(out._header, 'latin1').toString('latin1');
  outHeaders ??= Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders');
  if (outHeaders !== undefined && out[outHeaders] !== undefined) out[outHeaders] = null;
  if (res.req) (res.req as { next?: unknown }).next = undefined;
}

/**
 * Answers a stream request: 204 after the end, or the stream's headers and then events until
 * the run ends or the client goes. Resolves as soon as the stream is open, not when it ends:
 * nothing of the request's handling (the route's frame, Express's `next` closures) stays
 * suspended for a stream's life, only the subscription and its sink. `onEnd` runs once when
 * the stream is over, however it ends, including when opening it throws (Redis down: the
 * error handler's 503).
 */
export async function streamRun(deps: RunStreamDeps, res: Response, runId: string, cursor: string | undefined, onEnd: () => void = () => undefined): Promise<void> {
  // `res` (not `req`) reports the socket closing for a response still being written.
  let gone = false;
  let onGone = () => undefined as void;
  res.on('close', () => {
    gone = true;
    onGone();
  });

  let opened: Awaited<ReturnType<typeof subscribeRun>>;
  try {
    opened = await subscribeRun({
      runId,
      ...(cursor !== undefined ? { cursor } : {}),
      history: deps.history,
      ...(deps.live ? { live: deps.live } : {}),
      ended: deps.ended,
    });
  } catch (err) {
    onEnd();
    throw err;
  }
  if (opened.state === 'after_end') {
    deps.metrics.sseStreams.inc({ outcome: 'after_end' });
    res.status(204).end();
    return onEnd();
  }
  const sub = opened.subscription;
  if (gone) {
    sub.close();
    return onEnd();
  }
  onGone = () => sub.close();

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: ${SSE_RETRY_MS}\n\n`);
  dropSentState(res);
  deps.metrics.sseClients.inc();
  deps.heartbeat.add(res);

  const { metrics, heartbeat } = deps;
  const slow = deps.slowClient && deps.slowClient.maxBufferedBytes > 0 ? deps.slowClient : undefined;
  // Since when more than the limit has been waiting for the client (0: not now).
  let overSince = 0;
  let cutOff = false;
  void sub
    .start({
      event(e: RunEvent) {
        if (res.destroyed) return; // cut off or gone; its close ends the subscription
        res.write(frameOf(e));
        if (!slow) return;
        if (res.writableLength <= slow.maxBufferedBytes) {
          overSince = 0;
          return;
        }
        const now = Date.now();
        if (overSince === 0) overSince = now;
        else if (now - overSince >= slow.stalledMs) {
          cutOff = true;
          res.destroy();
        }
      },
      reset(notice) {
        res.write(`event: reset\ndata: ${JSON.stringify(notice)}\n\n`);
        metrics.sseStreams.inc({ outcome: 'reset' });
      },
    })
    .then((outcome) => {
      heartbeat.remove(res);
      metrics.sseClients.dec();
      metrics.sseStreams.inc({ outcome: outcome === 'closed' ? (cutOff ? 'slow_client' : 'client_closed') : outcome });
      if (!res.writableEnded) res.end();
      onEnd();
    });
}
