import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { runIdParam } from '../http/run-id';
import type { StreamTickets } from '../http/stream-ticket';

/** POST /agent/runs/:id/stream-token: a short-lived ticket for this run's SSE stream, for browsers. */
export function streamTokenRouter(deps: Pick<ApiDeps, 'reader'>, tickets: StreamTickets): Router {
  const r = Router();
  r.post('/agent/runs/:run_id/stream-token', async (req, res) => {
    const principal = authOf(res);
    const runId = runIdParam(req.params.run_id);
    await deps.reader.locate(principal.tenant, runId); // 404 unless the run is the tenant's
    res.status(201).json(await tickets.issue(principal, runId));
  });
  return r;
}
