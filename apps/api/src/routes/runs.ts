import { Router, type RequestHandler } from 'express';
import { isEventId, ListRunsQuery, LogsQuery, ValidationError, parseOrThrow } from '@agentyard/core';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { runIdParam } from '../http/run-id';
import { DEFAULT_SLOW_CLIENT, streamRun, type RunStreamDeps } from '../sse/run-stream';
import { createStreamGate } from '../sse/stream-gate';
import { createSseHeartbeat } from '../sse/heartbeat';

export function runsRouter(deps: ApiDeps, sseAuth: RequestHandler): Router {
  const { store, reader } = deps;
  const r = Router();
  const heartbeat = createSseHeartbeat(deps.heartbeatMs ?? 15_000);
  const gate = deps.streamLeases && deps.tenantPolicy ? createStreamGate({ leases: deps.streamLeases, limit: (t) => deps.tenantPolicy!(t).max_sse_streams }) : undefined;

  r.get('/agent/runs', async (req, res) => {
    const q = parseOrThrow(ListRunsQuery, req.query);
    // List views are bounded (run-list-view.ts); the full run is one GET /agent/runs/:id away.
    res.json(await reader.list(authOf(res).tenant, q));
  });

  r.get('/agent/runs/:run_id', async (req, res) => {
    res.json(await reader.view(authOf(res).tenant, runIdParam(req.params.run_id)));
  });

  r.get('/agent/logs/:run_id', async (req, res) => {
    const runId = runIdParam(req.params.run_id);
    const { after, limit: limitRaw } = parseOrThrow(LogsQuery, req.query);
    const { status, events: page } = await reader.events(authOf(res).tenant, runId, { ...(after ? { after } : {}), limit: limitRaw });
    const last = page[page.length - 1];
    res.json({
      run_id: runId,
      status,
      events: page,
      ...(page.length === limitRaw && last ? { next_cursor: last.id } : {}),
    });
  });

  /**
   * Where a stream's events come from. A function of its own so that the run read to find them
   * is garbage once the stream is open: the route's frame lives as long as the stream.
   * A run Redis forgot replays from its archive, which ends with `end`; nothing is live.
   */
  const streamSource = async (tenant: string, runId: string): Promise<Omit<RunStreamDeps, 'metrics' | 'heartbeat' | 'slowClient'>> => {
    const found = await reader.locate(tenant, runId);
    return found.where === 'redis'
      ? { history: reader.history(tenant, found), live: deps.fanout, ended: async () => (await store.ended(runId)) ?? true }
      : { history: reader.history(tenant, found), ended: async () => true };
  };

  // Auth for SSE accepts ?access_token= (EventSource cannot send headers), so it is mounted
  // here with its own middleware rather than the router-wide one.
  r.get('/agent/logs/:run_id/stream', sseAuth, async (req, res) => {
    const { tenant } = authOf(res);
    const runId = runIdParam(req.params.run_id);
    const source = await streamSource(tenant, runId);
    const header = req.get('last-event-id');
    const query = typeof req.query.last_event_id === 'string' ? req.query.last_event_id : undefined;
    const cursor = header ?? query;
    if (cursor !== undefined && !isEventId(cursor)) {
      throw ValidationError.field(header !== undefined ? 'Last-Event-ID' : 'last_event_id', 'not an event id (e.g. 1700000000000-0)');
    }
    // Counted against the tenant's max_sse_streams while it is open. The handler returns once
    // the stream is open; the lease goes back when it ends (streamRun's onEnd, called once).
    const release = gate ? await gate.enter(tenant) : undefined;
    await streamRun({ ...source, metrics: deps.metrics, heartbeat, slowClient: deps.sseSlowClient ?? DEFAULT_SLOW_CLIENT }, res, runId, cursor, release ? () => void release() : undefined);
  });

  return r;
}
