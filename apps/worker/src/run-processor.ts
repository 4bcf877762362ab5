import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { CancelledError, RunTimeoutError, isTerminal, toErrorData, type ErrorData } from '@agentyard/core';
import { AwaitingApprovalError, DeferredError, ShutdownError, StaleRunError, type Supervisor } from '@agentyard/agent';
import type { EventLog } from '@agentyard/events';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { RunJobData } from '@agentyard/queue';
import {
  decideAttempt,
  type ArchiveTarget,
  type AttemptEnd,
  type EventArchive,
  type RunFinalizer,
  type RunStore,
  type StepCheckpoint,
  type StoredRun,
  type TenantSlots,
} from '@agentyard/runs';
import { heldBackDelayMs, type SlotLimit } from './fair-share';

export interface RunProcessorDeps {
  store: RunStore;
  events: EventLog;
  supervisor: Supervisor;
  finalizer: RunFinalizer;
  /** Moves a running run's older events into its archive as they pile up. */
  archive: EventArchive;
  archiveTarget(run: StoredRun): ArchiveTarget;
  logger: Logger;
  metrics: WorkerMetrics;
  /** How often a running run checks whether it was cancelled. @default 500 */
  cancelPollMs?: number;
  /** Per-tenant concurrency: a run without a free slot waits in the queue, not in a worker. */
  slots?: { slots: TenantSlots; limit(tenant: string): Promise<SlotLimit>; retryMs?: number };
  now?: () => number;
}

/** What the supervisor's rejection means for the run, before any decision is taken. */
function attemptEnd(reason: unknown): AttemptEnd {
  if (reason instanceof StaleRunError) return { type: 'stale' };
  if (reason instanceof CancelledError) return { type: 'cancelled' };
  if (reason instanceof AwaitingApprovalError) return { type: 'approval', request: reason.request };
  if (reason instanceof ShutdownError) return { type: 'shutdown' };
  if (reason instanceof DeferredError) return { type: 'deferred', delayMs: reason.delayMs, message: reason.message };
  return { type: 'error', error: toErrorData(reason) };
}

/**
 * Turns one BullMQ job into one attempt of a run. The only place where our errors become
 * BullMQ outcomes: the run engine's decision (decideAttempt) is carried out by one run-store
 * operation, then a retry is rethrown (BullMQ backs off and retries), a dead letter throws
 * UnrecoverableError, a hand-back moves the job to delayed with DelayedError so BullMQ
 * counts no attempt.
 */
export function createRunProcessor(deps: RunProcessorDeps) {
  const { store, supervisor, finalizer, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const active = new Map<string, { controller: AbortController; tenant: string }>();

  const deadLetter = async (runId: string, error: ErrorData, gen?: number) => {
    const t = await store.deadLetter(runId, error, gen);
    await finalizer.finalize(runId);
    return t.ok;
  };

  async function process(job: Job, token?: string): Promise<unknown> {
    const parsed = RunJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} carries invalid data: ${parsed.error.message}`);
    const { runId, gen, tenant } = parsed.data;
    const log = logger.child({ runId, tenant, jobId: job.id });
    const cap = deps.slots ? await deps.slots.limit(tenant) : undefined;
    const slots = cap && Number.isFinite(cap.limit) ? deps.slots : undefined;
    // One script takes the run (and its tenant's slot, when capped) and hands it back as it now
    // is: no read before it. Whatever it refuses takes no slot and is skipped; a run found
    // terminal but not ended is finalized (a worker died between its finish and its end).
    const picked = await store.pickup(runId, gen, slots && cap ? { limit: cap.limit, leaseMs: slots.slots.leaseMs } : undefined);
    if (!picked.ok) {
      if (picked.reason === 'no_slot' && slots && cap) {
        // Not picked up, so not an attempt: the run stays queued and its job waits, delayed,
        // without holding this worker's slot: other tenants' runs take it meanwhile.
        if (await slots.slots.noteWaiting(runId)) {
          const why = cap.by === 'max_fleet_share' ? `its max_fleet_share of the live workers' slots` : 'its max_concurrent_runs';
          await deps.events.append(runId, 'log', { level: 'info', message: `waiting: tenant ${tenant} runs at most ${cap.limit} run(s) at once (${why})` });
        }
        const waiting = (await store.tenantCounts(tenant).catch(() => undefined))?.queued ?? 0;
        await job.moveToDelayed(now() + heldBackDelayMs(slots.retryMs ?? 1000, waiting, cap.limit, Math.random()), token);
        throw new DelayedError();
      }
      if (picked.reason === 'missing') return { skipped: 'run no longer exists' };
      if (picked.reason === 'stale') return { skipped: 'stale job of an older enqueue' };
      if (picked.current && isTerminal(picked.current)) await finalizer.finalize(runId);
      return { skipped: `run is ${picked.current ?? 'gone'}` };
    }
    // The slot goes back with the run's finish when it succeeds, otherwise on its own.
    let slotHeld = slots !== undefined;
    const release = () => {
      if (!slotHeld) return undefined;
      slotHeld = false;
      return slots?.slots.release(tenant, runId).catch(() => undefined);
    };

    const fresh: StoredRun = picked.run;
    if (picked.previous === 'queued' && fresh.queued_at) metrics.queueWait.observe(Math.max(0, now() - Date.parse(fresh.queued_at)) / 1000);
    const target = deps.archiveTarget(fresh);
    const controller = new AbortController();
    active.set(runId, { controller, tenant });
    metrics.activeRuns.inc();
    const startedMs = Date.parse(fresh.started_at ?? new Date(now()).toISOString());
    const remainingMs = startedMs + fresh.doc.options.timeout_s * 1000 - now();
    const deadline = setTimeout(() => controller.abort(new RunTimeoutError(fresh.doc.options.timeout_s)), Math.max(0, remainingMs));
    let ticks = 0;
    // A chatty run's older events move to its archive as they pile up, so Redis holds about
    // EVENTS_MAX_LEN of them: on a timer, and every segment's worth of appends, which then
    // wait for the flush, so a program that logs faster than storage takes is slowed down
    // rather than trimmed past what is archived.
    let flushing: Promise<unknown> | undefined;
    const flush = () => (flushing ??= deps.archive.flush(runId, target).catch(() => undefined).finally(() => (flushing = undefined)));
    let appended = 0;
    const events: EventLog = {
      ...deps.events,
      append: async (...args) => {
        const id = await deps.events.append(...args);
        if (++appended % deps.archive.segment === 0) await flush();
        return id;
      },
    };
    const poll = setInterval(() => {
      ticks += 1;
      if (slots && ticks % 10 === 0) slots.slots.renew(tenant, runId).catch(() => undefined);
      void flush();
      store.status(runId).then(
        (s) => {
          if (s === 'cancelled' && !controller.signal.aborted) controller.abort(new CancelledError());
        },
        () => undefined, // a Redis blip; the next poll tries again
      );
    }, deps.cancelPollMs ?? 500);
    const timer = metrics.runDuration.startTimer();
    log.info({ attempt: picked.attempts, resumed: picked.previous !== 'queued' }, 'run started');

    let end: AttemptEnd;
    let reason: unknown;
    // The plan's last step's checkpoint, which the finish script writes (completed runs only).
    let lastStep: StepCheckpoint | undefined;
    try {
      const out = await supervisor.execute(fresh, { signal: controller.signal, gen, events });
      lastStep = out.checkpoint;
      end = { type: 'completed', result: out.result };
    } catch (err) {
      reason = controller.signal.aborted && !(err instanceof StaleRunError) ? controller.signal.reason : err;
      end = attemptEnd(reason);
    } finally {
      clearTimeout(deadline);
      clearInterval(poll);
      await flushing;
      active.delete(runId);
      metrics.activeRuns.dec();
    }

    const maxAttempts = job.opts.attempts ?? 1;
    const decision = decideAttempt(end, { attemptsMade: job.attemptsMade, maxAttempts });
    if (decision.kind !== 'succeed') await release();
    switch (decision.kind) {
      case 'succeed': {
        const done = await store.succeed(runId, gen, decision.result, lastStep, { releaseSlot: slotHeld });
        // The script gives the slot back unless the run hash was gone.
        if (done.ok || done.reason !== 'missing') slotHeld = false;
        await release();
        timer({ outcome: 'succeeded' });
        await finalizer.finalize(runId, done.ok ? done : undefined);
        log.info({ status: done.ok ? 'succeeded' : done.current }, 'run finished');
        return { status: done.ok ? 'succeeded' : done.current };
      }
      case 'ignore':
        timer({ outcome: 'stale' });
        return { skipped: 'run was re-enqueued while this attempt ran' };
      case 'finalize':
        timer({ outcome: 'cancelled' });
        await finalizer.finalize(runId);
        log.info('run cancelled');
        return { status: 'cancelled' };
      case 'await_approval':
        timer({ outcome: 'awaiting_approval' });
        await store.awaitApproval(runId, gen, { ...decision.request, phase: 'requested' });
        log.info({ stepId: decision.request.step_id }, 'run awaits approval; its worker slot is free');
        return { status: 'awaiting_approval', step_id: decision.request.step_id };
      case 'hand_back':
        timer({ outcome: end.type === 'shutdown' ? 'handed_back' : 'deferred' });
        await store.handBack(runId, gen, { level: decision.level, message: decision.message });
        await job.moveToDelayed(now() + decision.delayMs, token);
        log.warn({ delayMs: decision.delayMs }, decision.message);
        throw new DelayedError();
      case 'retry':
        timer({ outcome: 'retry' });
        metrics.retries.inc();
        await store.fail(runId, gen, decision.error);
        log.warn({ error: decision.error, attempt: job.attemptsMade + 1, of: maxAttempts }, 'run attempt failed; will retry');
        // The original error goes to BullMQ: its backoff honours a Retry-After it carries.
        throw reason instanceof Error ? reason : new Error(decision.error.message);
      case 'dead_letter':
        timer({ outcome: 'dead_lettered' });
        await deadLetter(runId, decision.error, gen);
        log.warn({ error: decision.error }, 'run dead-lettered');
        throw new UnrecoverableError(decision.error.message);
    }
  }

  return {
    process,
    deadLetter,
    /** Stops every active run with `reason` (used when the drain grace period runs out). */
    abortAll(reason: Error) {
      for (const { controller: c } of active.values()) if (!c.signal.aborted) c.abort(reason);
    },
    activeCount: () => active.size,
    /** Active runs by tenant: the heartbeat's `tenants`, for each tenant's view of the workers. */
    activeByTenant(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const { tenant } of active.values()) out[tenant] = (out[tenant] ?? 0) + 1;
      return out;
    },
  };
}

export type RunProcessor = ReturnType<typeof createRunProcessor>;
