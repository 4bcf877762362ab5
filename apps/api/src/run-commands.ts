import {
  type Actor,
  BudgetExceededError,
  InvalidStateError,
  NotFoundError,
  UnavailableError,
  UnprocessableError,
  ValidationError,
  isTerminal,
  newRunId,
  planSteps,
  type CancelRunRequest,
  type CreateRunRequest,
  type DecideRequest,
  type ErrorDetail,
  type RunStatus,
} from '@agentyard/core';
import { fingerprint, type Outcome, type RunHead, type StoredRun } from '@agentyard/runs';
import type { ApiDeps } from './deps';

type Deps = Pick<ApiDeps, 'store' | 'queue' | 'tools' | 'finalizer' | 'modelConfigured' | 'logger' | 'budget' | 'queueLimits'>;

/** What a start did: the run's status now, and whether this start queued it. */
export interface StartResult {
  runId: string;
  status: RunStatus;
  changed: boolean;
}

export interface CommandResult {
  run: StoredRun;
  /** false when nothing changed (an idempotent repeat); routes answer 200 instead of 201/202. */
  changed: boolean;
}

/**
 * What the API's actions do, apart from HTTP: validation beyond the schema, the state
 * transition, and the enqueue. Routes only parse, call one of these, and answer.
 */
export function createRunCommands(deps: Deps) {
  const { store, queue, tools, finalizer } = deps;

  const reload = async (runId: string) => (await store.get(runId))!;

  /** Refuses a run Redis no longer holds: one retention already moved to its archive can only be read now. */
  const archivedRefusal = async (tenant: string, runId: string, action: string, err: unknown): Promise<never> => {
    if (err instanceof NotFoundError && (await store.listing(tenant, runId))) {
      throw new InvalidStateError(`run ${runId} ended and was archived (RUN_RETENTION_S); it can be read but not ${action}: create a new run`);
    }
    throw err;
  };

  /** The run's head from Redis (RunStore.head), for an action that needs no more of it. */
  const liveHead = async (tenant: string, runId: string, action: string): Promise<RunHead> => {
    const head = await store.head(runId);
    if (head && head.tenant === tenant) return head;
    return archivedRefusal(tenant, runId, action, new NotFoundError('run', runId));
  };

  /** The run from Redis; one retention already moved to its archive can only be read now. */
  const liveRun = async (tenant: string, runId: string, action: string): Promise<StoredRun> => {
    try {
      return await store.getForTenant(tenant, runId);
    } catch (err) {
      return archivedRefusal(tenant, runId, action, err);
    }
  };

  /**
   * The audit line of a person's action on a run; the same actor is in the run's events (`by`).
   * Only ids: a cancel reason or an approval comment is the client's text and stays in the run.
   */
  const audit = (action: string, run: StoredRun, by: Actor) =>
    deps.logger.info({ runId: run.doc.id, tenant: run.doc.tenant, action, actor: { tenant: by.tenant, subject: by.subject } }, `run ${action} by ${by.subject}`);

  const limits = (tenant: string) => deps.queueLimits?.(tenant) ?? { maxWaiting: 0, maxTenantQueued: 0 };

  /**
   * Adds the job of a run the store already marked queued at generation `gen`. The two writes
   * are not atomic: if this one fails, or the process dies first, the run stays queued
   * without a job, and the workers' reconciler adds it within RECONCILE_S.
   */
  const jobNotAdded = (runId: string, err: unknown): never => {
    deps.logger.warn({ runId, err: (err as Error).message }, 'job not added; the reconciler will add it');
    throw new UnavailableError('the run is queued but its job could not be added yet; it starts within a few seconds once Redis answers', err);
  };
  const addJob = async (run: Pick<StoredRun['doc'], 'id' | 'tenant' | 'options'>, gen: number): Promise<void> => {
    try {
      await queue.enqueue({ id: run.id, tenant: run.tenant, gen, options: run.options });
    } catch (err) {
      jobNotAdded(run.id, err);
    }
  };

  /** What a re-queueing operation just wrote, without reading the run back. */
  const requeued = (run: StoredRun, t: Outcome<{ gen: number }>, action: string): StoredRun => {
    if (!t.ok) throw stateError(run.doc.id, t.current ?? run.status, action);
    const next: StoredRun = { ...run, ended: false, status: 'queued', gen: t.gen, queued_at: t.at };
    delete next.error;
    delete next.finished_at;
    delete next.result;
    return next;
  };

  return {
    async create(tenant: string, req: CreateRunRequest, idempotencyKey?: string): Promise<CommandResult> {
      if (!req.steps && !deps.modelConfigured) {
        throw new UnprocessableError('a prompt-only run needs a model: set LLM_BASE_URL (and LLM_MODEL) on the server', [
          { path: 'prompt', message: 'model-driven runs need LLM_BASE_URL to be configured' },
        ]);
      }
      if (deps.budget && !req.steps) {
        // A model run needs at least its prompt and a short turn's worth of tokens.
        const limit = deps.budget.dailyLimit(tenant);
        const minimum = Math.ceil((req.prompt?.length ?? 0) / 4) + MIN_MODEL_TURN_TOKENS;
        if ((await deps.budget.tokens.left(tenant, limit)) < minimum) {
          throw new BudgetExceededError(`tenant ${tenant} used its daily token budget (${limit}); it resets at 00:00 UTC`, deps.budget.tokens.resetsInS());
        }
      }
      const steps = req.steps ? planSteps(req.steps) : [];
      const details: ErrorDetail[] = [];
      steps.forEach((s, i) => {
        try {
          tools.validate(s.tool, s.args, { tool: `steps[${i}].tool`, args: `steps[${i}].args` });
        } catch (e) {
          if (e instanceof ValidationError) details.push(...e.details);
          else throw e;
        }
      });
      if (steps.length > req.options.max_steps) {
        details.push({ path: 'steps', message: `${steps.length} steps exceed options.max_steps (${req.options.max_steps})` });
      }
      if (details.length > 0) throw new ValidationError(`${details[0]!.path}: ${details[0]!.message}`, details);

      const id = newRunId();
      const start = req.start === true;
      // A keyless create+start adds its job without waiting for the create script: both
      // commands go to Redis on the one connection the store and the queue share (compose.ts),
      // the script first, so Redis runs it before the add, and ioredis sends both at once
      // (neither waits for the other's answer): one round trip fewer per request. The script
      // can still refuse (queue_full): the job, whose run then does not exist, is removed
      // before the refusal is answered (a worker that took it meanwhile finds no run and skips
      // it). With an Idempotency-Key the create may answer with an earlier run, so its job is
      // added once the script said it is new.
      const created = store.create(
        {
          id,
          tenant,
          workspace_id: req.workspace_id ?? id,
          ...(req.prompt === undefined ? {} : { prompt: req.prompt }),
          options: req.options,
          steps,
          created_at: new Date().toISOString(),
        },
        {
          ...(idempotencyKey ? { idempotency: { key: idempotencyKey, fingerprint: fingerprint(req) } } : {}),
          // Created and queued in one script, within the queue limits; only the job is left to add.
          start,
          limits: limits(tenant),
        },
      );
      // store.create sent its script before returning (no await comes before it): the add follows it.
      const job = start && !idempotencyKey ? settled(queue.enqueue({ id, tenant, gen: 1, options: req.options })) : undefined;
      if (!job) {
        const { run, created: isNew } = await created;
        if (!isNew) return { run, changed: false };
        if (run.status === 'queued') await addJob(run.doc, run.gen);
        return { run, changed: true };
      }
      let run: StoredRun;
      try {
        ({ run } = await created);
      } catch (err) {
        await job;
        await queue.remove(id, 1);
        throw err;
      }
      const jobErr = await job;
      if (jobErr) jobNotAdded(run.doc.id, jobErr);
      return { run, changed: true };
    },

    async start(tenant: string, runId: string): Promise<StartResult> {
      // The start script checks the tenant itself, so it goes out right behind the read of the
      // run, in the same round trip (sent before the read is answered), instead of after it: a created run's
      // `queued` event (the first an SSE client sees) is out a round trip sooner. Redis runs
      // them in order, so the read sees the run as it was before; for any run but a created
      // one of this tenant the script refuses and changes nothing, and the read decides. The
      // read is the run's head (one HMGET), not the whole run: Redis runs the start script,
      // which publishes `queued`, as soon as the read is done.
      const read = liveHead(tenant, runId, 'started');
      const queued = store.start(runId, limits(tenant), tenant);
      const settled = queued.then(() => undefined, () => undefined);
      let head: RunHead;
      try {
        head = await read;
      } finally {
        await settled;
      }
      if (head.status !== 'created') {
        if (isTerminal(head.status)) throw new InvalidStateError(`run ${runId} is ${head.status}; use action "retry" to run it again`);
        return { runId, status: head.status, changed: false };
      }
      const { gen } = await queued;
      await addJob({ id: runId, tenant, options: head.options }, gen);
      return { runId, status: 'queued', changed: true };
    },

    async cancel(by: Actor, req: CancelRunRequest): Promise<CommandResult> {
      const run = await liveRun(by.tenant, req.run_id, 'cancelled');
      if (run.status === 'cancelled') return { run, changed: false };
      const t = await store.cancel(run.doc.id, { code: 'cancelled', message: req.reason ?? 'cancelled by the client', retryable: false }, req.reason, by);
      if (!t.ok) throw stateError(run.doc.id, t.current ?? run.status, 'cancel');
      audit('cancelled', run, by);
      if (t.previous !== 'running') {
        // Nobody executes it: drop its job and finish it here. A running run is stopped
        // and finished by its worker, which polls for the cancel.
        await queue.remove(run.doc.id, run.gen);
        await finalizer.finalize(run.doc.id);
      }
      return { run: await reload(run.doc.id), changed: true };
    },

    async retry(by: Actor, runId: string): Promise<CommandResult> {
      const run = await liveRun(by.tenant, runId, 'retried');
      // Queued again first (the script may refuse: the queue is full), then a failed run's
      // job waiting out its backoff goes: of an older generation, it could only be skipped.
      const next = requeued(run, await store.retry(run.doc.id, 'retry', by, limits(run.doc.tenant)), 'retry');
      if (run.status === 'failed') await queue.remove(run.doc.id, run.gen);
      audit('retried', run, by);
      await addJob(next.doc, next.gen);
      return { run: next, changed: true };
    },

    /** A person's decision on the step a run waits for; the run goes back to the queue. */
    async decide(by: Actor, req: DecideRequest): Promise<CommandResult> {
      const run = await liveRun(by.tenant, req.run_id, 'decided');
      const decision = {
        decision: req.action === 'approve' ? ('approved' as const) : ('rejected' as const),
        ...(req.comment ? { comment: req.comment } : {}),
        decided_at: new Date().toISOString(),
      };
      const { gen } = await store.decide(run.doc.id, req.step_id, decision, {
        step_id: req.step_id,
        phase: 'decided',
        decision: decision.decision,
        ...(req.comment ? { comment: req.comment } : {}),
      }, by);
      audit(decision.decision, run, by);
      await addJob(run.doc, gen);
      return { run: await reload(run.doc.id), changed: true };
    },

    /** Operator replay of a dead-lettered run, whatever its tenant. */
    async replay(by: Actor, runId: string): Promise<CommandResult> {
      const run = await store.get(runId);
      if (!run || run.status !== 'dead_lettered') {
        if (!run) throw new NotFoundError("run", runId);
        throw new InvalidStateError(`run ${runId} is ${run.status}, not dead_lettered`);
      }
      const next = requeued(run, await store.retry(run.doc.id, 'replay', by, limits(run.doc.tenant)), 'replay');
      audit('replayed', run, by);
      await addJob(next.doc, next.gen);
      return { run: next, changed: true };
    },
  };
}

export type RunCommands = ReturnType<typeof createRunCommands>;

/** The promise's rejection as its value (undefined when it resolved), so it is never unhandled. */
const settled = (p: Promise<unknown>): Promise<unknown> => p.then(
  () => undefined,
  (err: unknown) => err ?? new Error('rejected'),
);

/** Below this many tokens left today, a tenant's new model runs are refused with 429. */
export const MIN_MODEL_TURN_TOKENS = 256;

function stateError(runId: string, current: RunStatus, action: string): InvalidStateError {
  return new InvalidStateError(`run ${runId} is ${current}; cannot ${action} it`);
}
