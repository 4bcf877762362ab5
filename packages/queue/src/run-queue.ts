import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { RunOptions } from '@agentyard/core';
import { jobIdFor, jobOptions, type RunJobData } from './job-options';

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  completed: number;
  workers: number;
  /** Delayed jobs whose time has come (BullMQ promotes them on its next fetch). */
  delayed_due: number;
}

export interface RunQueue {
  readonly queue: Queue<RunJobData>;
  enqueue(run: { id: string; tenant: string; gen: number; options: RunOptions }): Promise<void>;
  /** Removes a waiting or delayed job; a locked (active) job is left to notice the cancel. */
  remove(runId: string, gen: number): Promise<void>;
  /** Moves a delayed job (a run in backoff) to the front of the line. */
  promote(runId: string, gen: number): Promise<boolean>;
  counts(): Promise<QueueCounts>;
  /** The job of a run generation as the reconciler sees it. */
  jobState(runId: string, gen: number): Promise<{ state: JobStateName; locked: boolean; failedReason?: string }>;
  close(): Promise<void>;
}

export function createRunQueue(opts: { connection: Redis; name: string; backoffMs: number }): RunQueue {
  const queue = new Queue<RunJobData>(opts.name, { connection: opts.connection });
  return {
    queue,
    async enqueue(run) {
      await queue.add('run', { runId: run.id, tenant: run.tenant, gen: run.gen }, jobOptions(run, opts.backoffMs));
    },
    async remove(runId, gen) {
      try {
        await queue.remove(jobIdFor(runId, gen));
      } catch {
        // locked by a worker: the worker sees the cancelled status and stops the run
      }
    },
    async promote(runId, gen) {
      const job = await queue.getJob(jobIdFor(runId, gen));
      if (!job || !(await job.isDelayed())) return false;
      await job.promote();
      return true;
    },
    async jobState(runId, gen) {
      const id = jobIdFor(runId, gen);
      const job = await queue.getJob(id);
      if (!job) return { state: 'missing', locked: false };
      const [state, lock] = await Promise.all([job.getState(), opts.connection.exists(`${queue.toKey(id)}:lock`)]);
      return { state: toJobState(state), locked: lock === 1, ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
    },
    async counts() {
      // BullMQ scores delayed jobs as timestamp * 0x1000 + a 12-bit counter.
      const dueScore = (Date.now() + 1) * 0x1000 - 1;
      const [c, workers, due] = await Promise.all([
        queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
        queue.getWorkersCount(),
        opts.connection.zcount(queue.toKey('delayed'), 0, dueScore),
      ]);
      return {
        waiting: c.waiting ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        prioritized: c.prioritized ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
        workers,
        delayed_due: due,
      };
    },
    close: () => queue.close(),
  };
}

export type JobStateName = 'missing' | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

/** BullMQ's job states as the reconciler reads them: prioritized and waiting-children count as waiting. */
export function toJobState(state: string): JobStateName {
  return state === 'completed' || state === 'failed' || state === 'active' || state === 'delayed' ? state : state === 'unknown' ? 'missing' : 'waiting';
}
