import { Router } from 'express';
import { DlqQuery, parseOrThrow } from '@agentyard/core';
import { toListView } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { runIdParam } from '../http/run-id';
import type { RunCommands } from '../run-commands';

/** Tool catalog and queue statistics: read-only views any tenant may see. */
export function catalogRouter(deps: ApiDeps): Router {
  const r = Router();
  r.get('/agent/tools', (_req, res) => {
    res.json({ tools: deps.tools.catalog() });
  });
  r.get('/agent/queue/stats', async (_req, res) => {
    res.json(await queueStats(deps));
  });
  r.get('/agent/workers', async (_req, res) => {
    res.json({ workers: await deps.workers.list() });
  });
  return r;
}

export async function queueStats(deps: Pick<ApiDeps, 'queue' | 'store' | 'workers'>) {
  const [counts, dead, oldest, live, finished] = await Promise.all([
    deps.queue.counts(),
    deps.store.dlqSize(),
    deps.store.oldestQueued(),
    deps.workers.list(),
    deps.store.finishedCounts(),
  ]);
  // `waiting` counts every job not yet started, prioritized ones included: every run has a
  // priority, so BullMQ keeps most of them in its prioritized set rather than its wait list.
  return {
    waiting: counts.waiting + counts.prioritized,
    active: counts.active,
    delayed: counts.delayed,
    prioritized: counts.prioritized,
    failed: counts.failed,
    dead_lettered: dead,
    // Runs that ended succeeded, counted by the run store when it emits their `end`. BullMQ's own
    // completed count is always 0 here: jobs are removed when they complete.
    completed: finished.succeeded ?? 0,
    // Registered, heartbeating workers (BullMQ's own count only sees open connections).
    workers: live.length,
    oldest_waiting_age_ms: oldest ? Math.max(0, Date.now() - oldest.at) : 0,
  };
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
