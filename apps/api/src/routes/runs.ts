import { Router, type RequestHandler } from 'express';
import { ListRunsQuery, ValidationError, parseOrThrow } from '@agentyard/core';
import { STREAM_ID } from '@agentyard/events';
import { toRunView } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { streamRun } from '../sse/run-stream';

/** A malformed id can name no run of this tenant, so it is a 404 like any other. */
const runIdParam = (raw: string | string[] | undefined): string => (typeof raw === 'string' ? raw : '');

export function runsRouter(deps: ApiDeps, sseAuth: RequestHandler): Router {
  const { store, events } = deps;
  const r = Router();

  r.get('/agent/runs', async (req, res) => {
    const q = parseOrThrow(ListRunsQuery, req.query);
    const { runs, next_cursor } = await store.list(authOf(res).tenant, q);
    res.json({ runs: runs.map(toRunView), ...(next_cursor ? { next_cursor } : {}) });
  });

  r.get('/agent/runs/:run_id', async (req, res) => {
    const run = await store.getForTenant(authOf(res).tenant, runIdParam(req.params.run_id));
    res.json(toRunView(run));
  });

  r.get('/agent/logs/:run_id', async (req, res) => {
    const run = await store.getForTenant(authOf(res).tenant, runIdParam(req.params.run_id));
    const after = typeof req.query.after === 'string' ? req.query.after : undefined;
    if (after !== undefined && !STREAM_ID.test(after)) throw ValidationError.field('after', 'not an event id (e.g. 1700000000000-0)');
    const limitRaw = req.query.limit === undefined ? 500 : Number(req.query.limit);
    if (!Number.isInteger(limitRaw) || limitRaw < 1 || limitRaw > 1000) throw ValidationError.field('limit', 'an integer from 1 to 1000');
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
