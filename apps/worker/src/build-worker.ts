import { Job, Worker, type ConnectionOptions } from 'bullmq';
import { ShutdownError } from '@agentyard/agent';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { RunJobData, retryDelayMs } from '@agentyard/queue';
import type { RunProcessor } from './run-processor';

const STALLED_TOO_OFTEN = /stalled more than allowable limit/;

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

  // A job that stalled more than maxStalledCount times is failed by BullMQ itself, regardless
  // of `attempts` and without calling our processor: BullMQ 6 marks it in the stall check and
  // fails it when a worker next fetches it, emitting only 'failed'. So the run is dead-lettered
  // from that event; 'stalled' alone means the job went back to wait and will resume.
  worker.on('stalled', (jobId: string) => {
    metrics.stalled.inc();
    logger.warn({ jobId }, 'stalled job moved back to wait');
  });
  worker.on('failed', (job: Job | undefined, err: Error) => {
    if (!job || !STALLED_TOO_OFTEN.test(err.message)) return;
    const data = RunJobData.safeParse(job.data);
    if (!data.success) return;
    const { runId, gen } = data.data;
    processor
      .deadLetter(runId, { code: 'stalled', message: err.message, retryable: false }, gen)
      .then(() => logger.warn({ jobId: job.id, runId }, 'run dead-lettered after stalling too often'))
      .catch((e: unknown) => logger.error({ err: e, jobId: job.id, runId }, 'could not dead-letter stalled run'));
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
