import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  CancelledError,
  RunTimeoutError,
  isTerminal,
  toErrorData,
  type ErrorData,
} from '@agentyard/core';
import { AwaitingApprovalError, DeferredError, ShutdownError, StaleRunError, type Supervisor } from '@agentyard/agent';
import type { EventLog } from '@agentyard/events';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { RunJobData } from '@agentyard/queue';
import type { RunFinalizer, RunStore, TenantSlots } from '@agentyard/runs';

export interface RunProcessorDeps {
  store: RunStore;
  events: EventLog;
  supervisor: Supervisor;
  finalizer: RunFinalizer;
  logger: Logger;
  metrics: WorkerMetrics;
  /** How often a running run checks whether it was cancelled. @default 500 */
  cancelPollMs?: number;
  /** Per-tenant concurrency: a run without a free slot waits in the queue, not in a worker. */
  slots?: { slots: TenantSlots; limit(tenant: string): number; retryMs?: number };
  now?: () => number;
}

/**
 * Turns one BullMQ job into one attempt of a run. The only place where our errors become
 * BullMQ outcomes: a retryable error is rethrown (BullMQ backs off and retries), a
 * permanent one or the last attempt dead-letters the run and throws UnrecoverableError,
 * a drain hands the job back with DelayedError so no attempt is spent.
 */
export function createRunProcessor(deps: RunProcessorDeps) {
  const { store, supervisor, finalizer, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const active = new Map<string, AbortController>();

  const deadLetter = async (runId: string, error: ErrorData, gen?: number) => {
    const t = await store.transition(runId, 'deadLetter', { error, ...(gen === undefined ? {} : { expectGen: gen }) });
    await finalizer.finalize(runId);
    return t.ok;
  };

  async function process(job: Job, token?: string): Promise<unknown> {
    const parsed = RunJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} carries invalid data: ${parsed.error.message}`);
    const { runId, gen } = parsed.data;
    const log = logger.child({ runId, tenant: parsed.data.tenant, jobId: job.id });
    const run = await store.get(runId);
    if (!run) return { skipped: 'run no longer exists' };
    if (run.gen !== gen) return { skipped: 'stale job of an older enqueue' };
    if (run.status === 'cancelled' || isTerminal(run.status)) {
      await finalizer.finalize(runId);
      return { skipped: `run is ${run.status}` };
    }
    const tenant = run.doc.tenant;
    const slots = deps.slots && Number.isFinite(deps.slots.limit(tenant)) ? deps.slots : undefined;
    if (slots && !(await slots.slots.acquire(tenant, runId, slots.limit(tenant)))) {
      if (await slots.slots.noteWaiting(runId)) {
        const limit = slots.limit(tenant);
        await deps.events.append(runId, 'log', { level: 'info', message: `waiting: tenant ${tenant} runs at most ${limit} run(s) at once` });
      }
      await job.moveToDelayed(now() + (slots.retryMs ?? 1000), token);
      throw new DelayedError();
    }
    const release = () => slots?.slots.release(tenant, runId).catch(() => undefined);
    const picked = await store.transition(runId, 'pickup', { bumpAttempts: true, expectGen: gen, del: ['error'] });
    if (!picked.ok) {
      await release();
      return { skipped: `run is ${picked.current ?? 'gone'}` };
    }

    if (picked.previous === 'queued' && run.queued_at) metrics.queueWait.observe(Math.max(0, now() - Date.parse(run.queued_at)) / 1000);
    const fresh = { ...run, status: 'running' as const, attempts: picked.attempts, started_at: run.started_at ?? picked.at };
    const controller = new AbortController();
    active.set(runId, controller);
    metrics.activeRuns.inc();
    const startedMs = Date.parse(fresh.started_at ?? new Date(now()).toISOString());
    const remainingMs = startedMs + fresh.doc.options.timeout_s * 1000 - now();
    const deadline = setTimeout(() => controller.abort(new RunTimeoutError(fresh.doc.options.timeout_s)), Math.max(0, remainingMs));
    let ticks = 0;
    const poll = setInterval(() => {
      if (slots && ++ticks % 10 === 0) slots.slots.renew(tenant, runId).catch(() => undefined);
      store.status(runId).then(
        (s) => {
          if (s === 'cancelled' && !controller.signal.aborted) controller.abort(new CancelledError());
        },
        () => undefined, // a Redis blip; the next poll tries again
      );
    }, deps.cancelPollMs ?? 500);
    const timer = metrics.runDuration.startTimer();
    log.info({ attempt: picked.attempts, resumed: picked.previous !== 'queued' }, 'run started');

    try {
      const { result } = await supervisor.execute(fresh, { signal: controller.signal, gen });
      const done = await store.transition(runId, 'succeed', { result, expectGen: gen });
      timer({ outcome: 'succeeded' });
      await finalizer.finalize(runId);
      log.info({ status: done.ok ? 'succeeded' : done.current }, 'run finished');
      return { status: done.ok ? 'succeeded' : done.current };
    } catch (err) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : err;
      if (err instanceof StaleRunError) {
        timer({ outcome: 'stale' });
        return { skipped: 'run was re-enqueued while this attempt ran' };
      }
      if (reason instanceof CancelledError) {
        timer({ outcome: 'cancelled' });
        await finalizer.finalize(runId);
        log.info('run cancelled');
        return { status: 'cancelled' };
      }
      if (reason instanceof AwaitingApprovalError) {
        timer({ outcome: 'awaiting_approval' });
        await store.transition(runId, 'awaitApproval', { expectGen: gen });
        log.info({ stepId: reason.stepId }, 'run awaits approval; its worker slot is free');
        return { status: 'awaiting_approval', step_id: reason.stepId };
      }
      if (reason instanceof DeferredError) {
        timer({ outcome: 'deferred' });
        await store.transition(runId, 'requeue', { expectGen: gen });
        await deps.events.append(runId, 'log', { level: 'warn', message: reason.message });
        await job.moveToDelayed(now() + reason.delayMs, token);
        log.warn({ delayMs: reason.delayMs }, reason.message);
        throw new DelayedError();
      }
      if (reason instanceof ShutdownError) {
        timer({ outcome: 'handed_back' });
        await store.transition(runId, 'requeue', { expectGen: gen });
        await deps.events.append(runId, 'log', { level: 'warn', message: 'worker shutting down; run handed back to the queue' });
        await job.moveToDelayed(now(), token);
        log.warn('run handed back to the queue on shutdown');
        throw new DelayedError();
      }
      const error = toErrorData(reason);
      const attemptsAllowed = job.opts.attempts ?? 1;
      const last = job.attemptsMade + 1 >= attemptsAllowed;
      if (error.retryable && !last) {
        timer({ outcome: 'retry' });
        metrics.retries.inc();
        await store.transition(runId, 'fail', { error, expectGen: gen });
        log.warn({ error, attempt: job.attemptsMade + 1, of: attemptsAllowed }, 'run attempt failed; will retry');
        throw reason instanceof Error ? reason : new Error(error.message);
      }
      timer({ outcome: 'dead_lettered' });
      const why = error.retryable ? { ...error, message: `${error.message} (after ${attemptsAllowed} attempts)` } : error;
      await deadLetter(runId, why, gen);
      log.warn({ error: why }, 'run dead-lettered');
      throw new UnrecoverableError(why.message);
    } finally {
      clearTimeout(deadline);
      clearInterval(poll);
      await release();
      active.delete(runId);
      metrics.activeRuns.dec();
    }
  }

  return {
    process,
    deadLetter,
    /** Stops every active run with `reason` (used when the drain grace period runs out). */
    abortAll(reason: Error) {
      for (const c of active.values()) if (!c.signal.aborted) c.abort(reason);
    },
    activeCount: () => active.size,
  };
}

export type RunProcessor = ReturnType<typeof createRunProcessor>;
