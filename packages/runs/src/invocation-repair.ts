import type { JobState } from './reconciler';
import type { SessionStore } from './session-store';

/** The invocation queue as the repair needs it (packages/queue implements it over BullMQ). */
export interface InvocationJobs {
  state(invocationId: string): Promise<{ state: JobState; failedReason?: string }>;
  /** Idempotent: the job id is the invocation id. */
  add(invocationId: string): Promise<void>;
}

export type InvocationRepairKind = 'invocation_without_job' | 'invocation_job_failed';

/**
 * One reconciler pass over invocations still `running` after `graceMs`:
 *
 * - no job (the API died between reserving and enqueueing, or the job was lost): the job is
 *   added again with the invocation's id; the worker's begin script makes sure a tool that
 *   had started is never run twice (it ends `interrupted` instead);
 * - a job BullMQ failed on its own (stalled): the invocation is failed with `job_failed`;
 * - an id whose record ended or expired leaves the work list.
 * Returns how many it repaired.
 */
export async function repairInvocations(opts: {
  sessions: SessionStore;
  jobs: InvocationJobs;
  beforeMs: number;
  limit: number;
  onRepair(kind: InvocationRepairKind, invocationId: string, detail: string): void;
}): Promise<number> {
  let repaired = 0;
  for (const id of await opts.sessions.runningSince(opts.beforeMs, opts.limit)) {
    const inv = await opts.sessions.invocation(id);
    if (!inv || inv.status !== 'running') {
      await opts.sessions.forgetRunning(id);
      continue;
    }
    const job = await opts.jobs.state(id);
    if (job.state === 'missing' || job.state === 'completed') {
      await opts.jobs.add(id);
      opts.onRepair('invocation_without_job', id, `invocation running since ${inv.created_at} without a job; job added`);
      repaired += 1;
    } else if (job.state === 'failed') {
      const message = `its job failed outside the worker: ${job.failedReason ?? 'unknown reason'}; invoke again`;
      if (await opts.sessions.finish(id, 'failed', { logs: [], artifacts: [], duration_ms: 0, error: { code: 'job_failed', message, retryable: true } })) {
        opts.onRepair('invocation_job_failed', id, message);
        repaired += 1;
      }
    }
  }
  return repaired;
}
