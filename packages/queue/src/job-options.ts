import { z } from 'zod';
import type { Priority, RunOptions } from '@agentyard/core';
import type { JobsOptions } from 'bullmq';

export const DEFAULT_QUEUE_NAME = 'agent-runs';

/**
 * BullMQ priorities, 1 being the highest. Every job gets one: BullMQ serves the plain
 * wait list before the prioritized set, so leaving `normal` unprioritized would put it
 * ahead of `critical`.
 */
export const PRIORITY_VALUES: Record<Priority, number> = { critical: 1, high: 5, normal: 10, low: 20 };

/** What a job carries: ids only. Everything else is read from the run store. */
export const RunJobData = z.object({
  runId: z.string().min(1),
  tenant: z.string().min(1),
  /** The run's enqueue generation; a job from an older generation is stale. */
  gen: z.number().int().nonnegative(),
});
export type RunJobData = z.infer<typeof RunJobData>;

/**
 * One job per enqueue of a run. The id derives from the run id and its generation, so a
 * run can be queued only once per generation, and a retry after a cancel never collides
 * with a job that is still finishing.
 */
export function jobIdFor(runId: string, gen: number): string {
  return `${runId}-g${gen}`;
}

export function jobOptions(
  run: { id: string; gen: number; options: Pick<RunOptions, 'priority' | 'max_attempts'> },
  backoffMs: number,
): JobsOptions {
  return {
    jobId: jobIdFor(run.id, run.gen),
    attempts: run.options.max_attempts,
    backoff: { type: RETRY_BACKOFF_TYPE, delay: backoffMs },
    priority: PRIORITY_VALUES[run.options.priority],
    // The run store is the record; BullMQ keeps failed jobs a while for operators only.
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}

/** Our own backoff type: BullMQ calls the worker's `backoffStrategy` for it. */
export const RETRY_BACKOFF_TYPE = 'agentyard';

/**
 * Exponential backoff (base, 2×base, 4×base, …) that also honours a `Retry-After` the
 * failure carried (a model endpoint's 429 or 503): the longer of the two wins.
 */
export function retryDelayMs(attemptsMade: number, baseMs: number, err?: unknown): number {
  const exponential = Math.round(baseMs * 2 ** Math.max(0, attemptsMade - 1));
  const after = (err as { retryAfterS?: unknown } | undefined)?.retryAfterS;
  return typeof after === 'number' && Number.isFinite(after) ? Math.max(exponential, after * 1000) : exponential;
}
