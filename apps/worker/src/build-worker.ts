import { Job, Worker, type ConnectionOptions } from 'bullmq';
import { ShutdownError } from '@agentyard/agent';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { RunJobData, retryDelayMs } from '@agentyard/queue';
import type { RunProcessor } from './run-processor';

export interface WorkerOptions {
  connection: ConnectionOptions;
  queueName: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  processor: RunProcessor;
  logger: Logger;
  metrics: WorkerMetrics;
}

export interface AgentWorker {
  worker: Worker;
  /**
   * Stops taking jobs and waits for active runs; after `graceMs` the runs still going are
   * handed back to the queue (no attempt spent) so another worker resumes them.
   */
  close(graceMs: number): Promise<void>;
}

export function buildWorker(opts: WorkerOptions): AgentWorker {
  const { processor, logger, metrics } = opts;
  const worker = new Worker(opts.queueName, (job, token) => processor.process(job, token), {
    connection: opts.connection,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: opts.stalledIntervalMs,
    maxStalledCount: opts.maxStalledCount,
    autorun: false,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error, job?: { opts?: { backoff?: unknown } }) =>
        retryDelayMs(attemptsMade, (job?.opts?.backoff as { delay?: number } | undefined)?.delay ?? 1000, err),
    },
  });

  // BullMQ fails a job that stalled more than maxStalledCount times without calling our
  // processor and regardless of `attempts`; only this event tells us, so the run is
  // dead-lettered here.
  worker.on('stalled', (jobId: string) => {
    metrics.stalled.inc();
    void (async () => {
      const job = await Job.fromId(worker, jobId);
      if (!job || !(await job.isFailed())) {
        logger.warn({ jobId }, 'stalled job recovered; another attempt resumes it');
        return;
      }
      const data = RunJobData.safeParse(job.data);
      if (!data.success) return;
      const message = job.failedReason || 'job stalled more than allowable limit';
      await processor.deadLetter(data.data.runId, { code: 'stalled', message, retryable: false }, data.data.gen);
      logger.warn({ jobId, runId: data.data.runId }, 'run dead-lettered after stalling too often');
    })().catch((err: unknown) => logger.error({ err, jobId }, 'could not handle stalled job'));
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));

  return {
    worker,
    async close(graceMs) {
      const timer = setTimeout(() => {
        if (processor.activeCount() > 0) {
          logger.warn({ active: processor.activeCount() }, 'drain grace period over; handing active runs back');
        }
        processor.abortAll(new ShutdownError());
      }, graceMs);
      try {
        await worker.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
