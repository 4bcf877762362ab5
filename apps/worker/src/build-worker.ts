import { Job, Worker, type ConnectionOptions } from 'bullmq';
import { ShutdownError } from '@agentyard/agent';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { RunJobData, retryDelayMs } from '@agentyard/queue';
import type { RunProcessor } from './run-processor';
import { within } from '@agentyard/core';

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
  /**
   * After the grace period, how long aborted runs get to hand themselves back (a few Redis
   * calls each) before close gives up on them. @default 2000
   */
  handBackMs?: number;
}

export interface AgentWorker {
  worker: Worker;
  /**
   * Stops taking jobs and waits for active runs; after `graceMs` the runs still going are
   * handed back to the queue (no attempt spent) so another worker resumes them. Resolves
   * within `graceMs` + `handBackMs` whatever Redis does, with the runs that could not be
   * handed back (Redis refused or silent): BullMQ's stall check returns those to the queue
   * once their locks expire.
   */
  close(graceMs: number): Promise<{ notHandedBack: string[] }>;
}

export function buildWorker(opts: WorkerOptions): AgentWorker {
  const { processor, logger, metrics } = opts;
  // Which runs this worker holds, so a close that runs out of time can name them.
  const holding = new Map<string, string>();
  const process = async (job: Job, token?: string) => {
    const key = job.id ?? '';
    const data = RunJobData.safeParse(job.data);
    holding.set(key, data.success ? data.data.runId : `job ${key}`);
    try {
      return await processor.process(job, token);
    } finally {
      holding.delete(key);
    }
  };
  const worker = new Worker(opts.queueName, process, {
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
      // worker.close() waits for active jobs and for Redis; neither may keep us past the bound.
      const outcome = await within(worker.close(), graceMs + (opts.handBackMs ?? 2000));
      clearTimeout(timer);
      if (outcome !== 'timeout') return { notHandedBack: [] };
      const notHandedBack = [...holding.values()];
      logger.error(
        { runs: notHandedBack },
        notHandedBack.length
          ? `could not hand back ${notHandedBack.join(', ')}: Redis did not answer; BullMQ's stall check returns them to the queue once their locks expire`
          : 'closed without Redis answering; no run was active, so nothing was left to hand back',
      );
      return { notHandedBack };
    },
  };
}
