import type { Response } from 'express';
import type { RunEvent } from '@agentyard/core';
import { subscribeRun, type RunHistory, type RunSubscriptionOptions } from '@agentyard/events';
import type { ApiMetrics } from '@agentyard/observability';

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
 * - A comment heartbeat every `heartbeatMs`; a client that goes away leaves no listener or
 *   timer behind.
 * Opening the subscription (live subscribe, cursor check) happens before any header, so a
 * Redis outage is still a 503 with an error envelope, not a 200 that closes at once.
 */
export interface RunStreamDeps {
  history: RunHistory;
  live?: RunSubscriptionOptions['live'];
  metrics: ApiMetrics;
  heartbeatMs: number;
  /** Whether the run's current `end` event exists (cleared by a retry). */
  ended(runId: string): Promise<boolean>;
}

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

export async function streamRun(deps: RunStreamDeps, res: Response, runId: string, cursor: string | undefined): Promise<void> {
  // `res` (not `req`) reports the socket closing for a response still being written.
  let gone = false;
  let onGone = () => undefined as void;
  res.on('close', () => {
    gone = true;
    onGone();
  });

  const opened = await subscribeRun({
    runId,
    ...(cursor !== undefined ? { cursor } : {}),
    history: deps.history,
    ...(deps.live ? { live: deps.live } : {}),
    ended: () => deps.ended(runId),
  });
  if (opened.state === 'after_end') {
    deps.metrics.sseStreams.inc({ outcome: 'after_end' });
    res.status(204).end();
    return;
  }
  const sub = opened.subscription;
  if (gone) return sub.close();
  onGone = () => sub.close();

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: ${SSE_RETRY_MS}\n\n`);
  deps.metrics.sseClients.inc();
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.heartbeatMs);

  const outcome = await sub.start({
    event(e: RunEvent) {
      res.write(frameOf(e));
    },
    reset(notice) {
      res.write(`event: reset\ndata: ${JSON.stringify(notice)}\n\n`);
      deps.metrics.sseStreams.inc({ outcome: 'reset' });
    },
  });
  clearInterval(heartbeat);
  deps.metrics.sseClients.dec();
  deps.metrics.sseStreams.inc({ outcome: outcome === 'closed' ? 'client_closed' : outcome });
  if (!res.writableEnded) res.end();
}
