import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { z } from 'zod';
import { toJobState, type JobStateName } from './run-queue';

/** Job data of one direct tool invocation: its id only (the record lives in the session store). */
export const InvocationJobData = z.object({ invocationId: z.string().regex(/^inv-[0-9a-f]{16}$/) });
export type InvocationJobData = z.infer<typeof InvocationJobData>;

/** The invocations' own queue, beside the runs': `<QUEUE_NAME>-invocations`. */
export const invocationQueueName = (queueName: string) => `${queueName}-invocations`;

export interface InvocationQueue {
  readonly queue: Queue<InvocationJobData>;
  /** Idempotent: the job id is the invocation id. */
  enqueue(invocationId: string): Promise<void>;
  /** What BullMQ holds for the invocation's job (the reconciler's repair reads it). */
  jobState(invocationId: string): Promise<{ state: JobStateName; failedReason?: string }>;
  close(): Promise<void>;
}

export function createInvocationQueue(opts: { connection: Redis; queueName: string }): InvocationQueue {
  const queue = new Queue<InvocationJobData>(invocationQueueName(opts.queueName), { connection: opts.connection });
  return {
    queue,
    async enqueue(invocationId) {
      // One attempt: a tool is never run again by BullMQ (beginInvocation refuses a second start anyway).
      await queue.add('invoke', { invocationId }, { jobId: invocationId, attempts: 1, removeOnComplete: true, removeOnFail: 1000 });
    },
    async jobState(invocationId) {
      const job = await queue.getJob(invocationId);
      if (!job) return { state: 'missing' };
      return { state: toJobState(await job.getState()), ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
    },
    close: () => queue.close(),
  };
}
