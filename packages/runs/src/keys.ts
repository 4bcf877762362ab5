/**
 * Every key the run store touches, under the configured prefix. The scripts in scripts.ts
 * derive the deployment- and tenant-wide ones (queued, running, dlq, expiring, tenant:*)
 * from the same prefix: keep the two in step.
 */
export function runKeys(prefix: string) {
  return {
    run: (runId: string) => `${prefix}run:${runId}`,
    steps: (runId: string) => `${prefix}run:${runId}:steps`,
    /** Approval decisions by step id; HSETNX makes each decision final. */
    approvals: (runId: string) => `${prefix}run:${runId}:approvals`,
    /** The model conversation, one JSON message per entry, appended with its checkpoint. */
    transcript: (runId: string) => `${prefix}run:${runId}:transcript`,
    /** How far the run's events are archived in complete segments: {seq, id}. */
    archiveCursor: (runId: string) => `${prefix}run:${runId}:archive`,
    /** Throttles the "waiting for a concurrency slot" log line of a run. */
    slotWait: (runId: string) => `${prefix}run:${runId}:slot-wait`,
    /** Daily token ledger of a tenant: {used, reserved}. */
    budget: (tenant: string, day: string) => `${prefix}budget:${tenant}:${day}`,
    /** Runs of a tenant holding a concurrency slot, scored by lease expiry. */
    tenantSlots: (tenant: string) => `${prefix}tenant:${tenant}:slots`,
    /** What the tenant's tools keep in its workspaces: {files, bytes} (max_workspace_files/_bytes). */
    tenantWorkspaceUsage: (tenant: string) => `${prefix}tenant:${tenant}:ws-usage`,
    /** Size of each file counted in tenantWorkspaceUsage, by its store key. */
    tenantWorkspaceFiles: (tenant: string) => `${prefix}tenant:${tenant}:ws-files`,
    /** Open SSE streams of a tenant (one member per stream, any API replica), scored by lease expiry. */
    tenantStreams: (tenant: string) => `${prefix}tenant:${tenant}:streams`,
    /** Every run of a tenant (members sort by creation time), expired ones included. */
    tenantRuns: (tenant: string) => `${prefix}tenant:${tenant}:runs`,
    /** Queued runs of a tenant, for its max_queued_runs and its queue stats. */
    tenantQueued: (tenant: string) => `${prefix}tenant:${tenant}:queued`,
    /** Running runs of a tenant, scored by pickup time: its queue stats' `active`. */
    tenantRunning: (tenant: string) => `${prefix}tenant:${tenant}:running`,
    /** Dead-lettered runs of a tenant, scored by when they died. */
    tenantDlq: (tenant: string) => `${prefix}tenant:${tenant}:dlq`,
    /** Terminal status -> runs of a tenant that ended with it (bumped with `end`). */
    tenantFinished: (tenant: string) => `${prefix}tenant:${tenant}:finished`,
    /**
     * Listing entries of archived runs: run id -> {workspace_id, status, created_at,
     * finished_at}, what the API needs to find a run in its archive once Redis forgot it.
     */
    listing: (tenant: string) => `${prefix}tenant:${tenant}:listing`,
    /** The tenant's runs Redis has forgotten, scored by when: the listing's oldest leave first. */
    tenantExpired: (tenant: string) => `${prefix}tenant:${tenant}:expired`,
    idempotency: (tenant: string, keyHash: string) => `${prefix}idem:${tenant}:${keyHash}`,
    /** Dead-lettered run ids, scored by when they died. */
    dlq: `${prefix}dlq`,
    /** Queued run ids, scored by when they were queued: oldest waiting age, reconciler, backpressure. */
    queued: `${prefix}queued`,
    /** Running run ids, scored by when a worker picked them up: the reconciler's zombie scan. */
    running: `${prefix}running`,
    /** `<tenant> <run id>` of archived runs, scored by when their retention ends. */
    expiring: `${prefix}expiring`,
    /** Hash of terminal status → runs that ended with it; bumped by the script that emits `end`. */
    finished: `${prefix}stats:finished`,
    /** Ended runs whose workspace archive could not be written yet (storage was down). */
    archivePending: `${prefix}archive:pending`,
    /** Lease of the one worker that reconciles at a time. */
    reconcilerLease: `${prefix}reconciler:lease`,
  };
}
export type RunKeys = ReturnType<typeof runKeys>;
