import type { Request, Response } from 'express';
import type { RunEvent } from '@agentyard/core';
import { compareIds, type EventFanout, type EventLog } from '@agentyard/events';
import type { ApiMetrics } from '@agentyard/observability';

/**
 * SSE for one run: replay history, then go live, with no gap and no duplicate.
 *
 * 1. Subscribe to the run's live channel first, buffering what arrives.
 * 2. Read the stream from the client's cursor (Last-Event-ID) and send it in pages.
 * 3. Flush the buffer, then forward live events, skipping any id not greater than the
 *    last one sent: an event published during the replay is in both, and goes out once.
 * A cursor older than retained history gets a `reset` event and a replay from the oldest
 * entry. The stream ends after the `end` event; a client that closes the connection
 * leaves no listener or timer behind.
 */
export interface RunStreamDeps {
  events: EventLog;
  fanout: EventFanout;
  metrics: ApiMetrics;
  heartbeatMs: number;
  /** Whether the run's `end` event exists: a client resuming after it gets nothing more. */
  ended(runId: string): Promise<boolean>;
}

const PAGE = 500;

export async function streamRun(
  deps: RunStreamDeps,
  req: Request,
  res: Response,
  runId: string,
  cursor: string | undefined,
): Promise<void> {
  let lastId = cursor;
  let buffer: RunEvent[] | null = [];
  let done = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const finish = (outcome: 'ended' | 'client_closed' | 'error') => {
    if (done) return;
    done = true;
    if (heartbeat) clearInterval(heartbeat);
    unsubscribe?.();
    deps.metrics.sseClients.dec();
    deps.metrics.sseStreams.inc({ outcome });
    if (!res.writableEnded) res.end();
  };

  const send = (e: RunEvent) => {
    if (done) return;
    if (lastId !== undefined && compareIds(e.id, lastId) <= 0) return;
    const { id, ...data } = e;
    res.write(`id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
    lastId = id;
    if (e.type === 'end') finish('ended');
  };

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  deps.metrics.sseClients.inc();
  // `res` (not `req`) reports the socket closing for a response still being written.
  res.on('close', () => finish('client_closed'));
  void req;

  // Sends history after the last id sent while live events wait in `buffer`, then flushes
  // it: at the start, and again whenever the fanout lost its Redis connection. Catch-ups run
  // one after another; one with another queued behind it leaves the buffer to that one, so
  // no live event overtakes history that has not been sent yet.
  let queuedSyncs = 0;
  const catchUp = async () => {
    buffer = buffer ?? [];
    for (;;) {
      const page = await deps.events.read(runId, { ...(lastId ? { after: lastId } : {}), limit: PAGE });
      for (const e of page) send(e);
      if (done || page.length < PAGE) break;
    }
    if (queuedSyncs > 0) return;
    const pending = buffer;
    buffer = null;
    for (const e of pending) send(e);
  };
  // Catch-ups wait for the start (subscription and cursor check) to be done.
  let started!: () => void;
  let syncing = new Promise<void>((resolve) => (started = resolve));
  const resync = () => {
    if (done) return;
    queuedSyncs += 1;
    buffer = buffer ?? [];
    syncing = syncing
      .then(() => {
        queuedSyncs -= 1;
        return catchUp();
      })
      .catch(() => finish('error')); // the client reconnects with Last-Event-ID and loses nothing
  };

  try {
    unsubscribe = await deps.fanout.subscribe(runId, (e) => (buffer ? buffer.push(e) : send(e)), resync);
    if (done) return unsubscribe();

    if (cursor !== undefined && (await deps.events.isExpired(runId, cursor))) {
      const reset = { run_id: runId, type: 'reset', reason: 'cursor is older than the retained history; replaying from the oldest event' };
      res.write(`event: reset\ndata: ${JSON.stringify(reset)}\n\n`);
      deps.metrics.sseStreams.inc({ outcome: 'reset' });
      lastId = undefined;
    }
    resync();
    started();
    await syncing;
    if (done) return;
    // Resumed after `end` itself: nothing will ever follow, so close instead of idling.
    if (await deps.ended(runId)) finish('ended');
    if (!done) heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.heartbeatMs);
  } catch (err) {
    finish('error');
    throw err;
  }
}
