/** Every key the run store touches, under the configured prefix. */
export function runKeys(prefix: string) {
  return {
    run: (runId: string) => `${prefix}run:${runId}`,
    steps: (runId: string) => `${prefix}run:${runId}:steps`,
    /** Approval decisions by step id; HSETNX makes each decision final. */
    approvals: (runId: string) => `${prefix}run:${runId}:approvals`,
    /** The model conversation, one JSON message per entry, appended with its checkpoint. */
    transcript: (runId: string) => `${prefix}run:${runId}:transcript`,
    /** Daily token ledger of a tenant: {used, reserved}. */
    budget: (tenant: string, day: string) => `${prefix}budget:${tenant}:${day}`,
    /** Runs of a tenant holding a concurrency slot, scored by lease expiry. */
    tenantSlots: (tenant: string) => `${prefix}tenant:${tenant}:slots`,
    tenantRuns: (tenant: string) => `${prefix}tenant:${tenant}:runs`,
    idempotency: (tenant: string, keyHash: string) => `${prefix}idem:${tenant}:${keyHash}`,
    /** Dead-lettered run ids, scored by when they died. */
    dlq: `${prefix}dlq`,
    /** Queued run ids, scored by when they were queued: gives the oldest waiting age cheaply. */
    queued: `${prefix}queued`,
    /** Hash of terminal status → runs that ended with it; bumped by the script that emits `end`. */
    finished: `${prefix}stats:finished`,
    /** Ended runs whose workspace archive could not be written yet (storage was down). */
    archivePending: `${prefix}archive:pending`,
  };
}
export type RunKeys = ReturnType<typeof runKeys>;
