import { Router } from 'express';
import { z } from 'zod';
import { DlqQuery, ForbiddenError, parseOrThrow } from '@agentyard/core';
import { TENANT_ID } from '@agentyard/config';
import { toListView } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf, type Principal } from '../http/auth';
import { fleetQueueStats, fleetWorkers, tenantQueueStats, tenantWorkers } from '../queue-views';
import { runIdParam } from '../http/run-id';
import type { RunCommands } from '../run-commands';

/**
 * Tool catalog, queue statistics and workers. Queue stats and workers are scoped: a tenant
 * sees its own figures, an operator (`admin`) the fleet, or one tenant's with `?tenant=`.
 */
export function catalogRouter(deps: ApiDeps): Router {
  const r = Router();
  r.get('/agent/tools', (_req, res) => {
    res.json({ tools: deps.tools.catalog() });
  });
  r.get('/agent/queue/stats', async (req, res) => {
    const scope = viewScope(req.query, authOf(res));
    res.json(scope.fleet ? await fleetQueueStats(deps) : await tenantQueueStats(deps, scope.tenant));
  });
  r.get('/agent/workers', async (req, res) => {
    const scope = viewScope(req.query, authOf(res));
    res.json(scope.fleet ? await fleetWorkers(deps) : await tenantWorkers(deps, scope.tenant));
  });
  return r;
}

const ViewQuery = z.object({ tenant: z.string().regex(TENANT_ID, 'not a tenant id').optional() });

/** Whose figures a request sees: its own tenant's, or for an operator the fleet or a named tenant's. */
function viewScope(query: unknown, principal: Principal): { fleet: true } | { fleet: false; tenant: string } {
  const { tenant } = parseOrThrow(ViewQuery, query);
  if (!principal.scopes.has('admin')) {
    if (tenant !== undefined && tenant !== principal.tenant) throw new ForbiddenError('tenant: only an admin token may see another tenant');
    return { fleet: false, tenant: principal.tenant };
  }
  return tenant === undefined ? { fleet: true } : { fleet: false, tenant };
}

/** Operator routes; the admin-only auth is mounted in front of this router. */
export function adminRouter(deps: ApiDeps, commands: RunCommands): Router {
  const r = Router();
  r.get('/admin/dlq', async (req, res) => {
    const { limit, offset } = parseOrThrow(DlqQuery, req.query);
    const entries = await deps.store.dlq({ limit, offset });
    const runs = await Promise.all(entries.map((e) => deps.store.get(e.runId)));
    res.json({
      total: await deps.store.dlqSize(),
      dead_letters: entries.flatMap((e, i) => {
        const run = runs[i];
        if (!run) return [];
        // A list view, bounded like GET /agent/runs (run-list-view.ts).
        const v = toListView(run);
        return [{ run_id: e.runId, tenant: v.tenant, dead_lettered_at: new Date(e.at).toISOString(), attempts: v.attempts, error: v.error, run: v }];
      }),
    });
  });
  r.post('/admin/dlq/:run_id/replay', async (req, res) => {
    const { run } = await commands.replay(authOf(res), runIdParam(req.params.run_id));
    res.status(202).json({ run_id: run.doc.id, status: run.status });
  });
  return r;
}
