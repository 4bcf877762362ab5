import { createHash } from 'node:crypto';
import type { TenantPolicy } from '@agentyard/config';
import type { WorkerInfo } from '@agentyard/queue';
import type { ApiDeps } from './deps';

/**
 * What /agent/queue/stats and /agent/workers show, apart from HTTP. Operators (`admin`) see
 * the fleet; a tenant sees only figures made of its own runs, read from its own indexes
 * (packages/runs keeps them in the run scripts), and nothing that names another tenant or
 * the fleet's hosts.
 */

type Deps = Pick<ApiDeps, 'queue' | 'store' | 'workers'> & { tenantPolicy?(tenant: string): TenantPolicy };

export async function fleetQueueStats(deps: Deps) {
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

/**
 * One tenant's queue stats: its queued runs (`waiting`, runs held back by its
 * max_concurrent_runs included), its running runs (`active`), its dead letters, its
 * succeeded runs, the age of its oldest queued run, and the caps that apply to it.
 */
export async function tenantQueueStats(deps: Deps, tenant: string) {
  const c = await deps.store.tenantCounts(tenant);
  const policy = deps.tenantPolicy?.(tenant);
  return {
    tenant,
    waiting: c.queued,
    active: c.running,
    dead_lettered: c.deadLettered,
    completed: c.finished.succeeded ?? 0,
    oldest_waiting_age_ms: c.oldestQueuedAt === undefined ? 0 : Math.max(0, Date.now() - c.oldestQueuedAt),
    ...(policy ? { limits: limitsView(policy) } : {}),
  };
}

/** Caps as JSON: Infinity (no cap) is `null`. */
function limitsView(p: TenantPolicy): Record<string, number | null> {
  const n = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    max_concurrent_runs: n(p.max_concurrent_runs),
    max_queued_runs: n(p.max_queued_runs),
    max_open_sessions: n(p.max_open_sessions),
    max_sse_streams: n(p.max_sse_streams),
    max_workspace_files: n(p.max_workspace_files),
    max_workspace_bytes: n(p.max_workspace_bytes),
    max_listed_runs: n(p.max_listed_runs),
  };
}

/**
 * A stable, opaque name of a worker for tenants: its id names a host and a pid, which are the
 * operator's business. Operators see the same `ref` next to the id to match the two.
 */
export const workerRef = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 12);

export async function fleetWorkers(deps: Deps) {
  return { workers: (await deps.workers.list()).map((w) => ({ ...w, ref: workerRef(w.id) })) };
}

/** The workers running this tenant's runs, and how many of its runs each one runs. */
export async function tenantWorkers(deps: Deps, tenant: string) {
  const live: WorkerInfo[] = await deps.workers.list();
  return {
    tenant,
    workers: live.flatMap((w) => {
      const mine = w.tenants?.[tenant] ?? 0;
      return mine > 0 ? [{ ref: workerRef(w.id), active_runs: mine, last_seen: w.last_seen }] : [];
    }),
  };
}
