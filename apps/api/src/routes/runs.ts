import { Router, type RequestHandler } from 'express';
import { ListRunsQuery, LogsQuery, ValidationError, parseOrThrow } from '@agentyard/core';
import { STREAM_ID } from '@agentyard/events';
import { toListView, toRunView } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { runIdParam } from '../http/run-id';
import { streamRun } from '../sse/run-stream';

export function runsRouter(deps: ApiDeps, sseAuth: RequestHandler): Router {
  const { store, events } = deps;
  const r = Router();

  r.get('/agent/runs', async (req, res) => {
    const q = parseOrThrow(ListRunsQuery, req.query);
    const { runs, next_cursor } = await store.list(authOf(res).tenant, q);
    // List views are bounded (run-list-view.ts); the full run is one GET /agent/runs/:id away.
    res.json({ runs: runs.map(toListView), ...(next_cursor ? { next_cursor } : {}) });
  });

  r.get('/agent/runs/:run_id', async (req, res) => {
    const run = await store.getForTenant(authOf(res).tenant, runIdParam(req.params.run_id));
    res.json(toRunView(run));
  });

  r.get('/agent/logs/:run_id', async (req, res) => {
    const runId = runIdParam(req.params.run_id);
    const { after, limit: limitRaw } = parseOrThrow(LogsQuery, req.query);
    const run = await store.getForTenant(authOf(res).tenant, runId);
    const page = await events.read(run.doc.id, { ...(after ? { after } : {}), limit: limitRaw });
    const last = page[page.length - 1];
    res.json({
      run_id: run.doc.id,
      status: run.status,
      events: page,
      ...(page.length === limitRaw && last ? { next_cursor: last.id } : {}),
    });
  });

  // Auth for SSE accepts ?access_token= (EventSource cannot send headers), so it is mounted
  // here with its own middleware rather than the router-wide one.
  r.get('/agent/logs/:run_id/stream', sseAuth, async (req, res) => {
    const run = await store.getForTenant(authOf(res).tenant, runIdParam(req.params.run_id));
    const header = req.get('last-event-id');
    const query = typeof req.query.last_event_id === 'string' ? req.query.last_event_id : undefined;
    const cursor = header ?? query;
    if (cursor !== undefined && !STREAM_ID.test(cursor)) {
      throw ValidationError.field(header !== undefined ? 'Last-Event-ID' : 'last_event_id', 'not an event id (e.g. 1700000000000-0)');
    }
    await streamRun(
      {
        history: events,
        live: deps.fanout,
        metrics: deps.metrics,
        heartbeatMs: deps.heartbeatMs ?? 15_000,
        ended: async (id) => (await store.get(id))?.ended ?? false,
      },
      res,
      run.doc.id,
      cursor,
    );
  });

  return r;
}
