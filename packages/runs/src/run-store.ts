import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import {
  NotFoundError,
  UnprocessableError,
  InvalidStateError,
  QueueFullError,
  RUN_ID_PATTERN,
  type Actor,
  type ApprovalDecision,
  type DynamicStep,
  type ErrorData,
  type RunStatus,
  type StepPayload,
  type StepState,
  type TokenUsage,
} from '@agentyard/core';
import { eventKeys } from '@agentyard/events';
import { decodeRun, stepStates, type RunDoc, type StoredRun } from './run-codec';
import { runKeys } from './keys';
import { RUN_CODES, RUN_SCRIPTS, RUN_SCRIPT_KEYS, type RunScriptName } from './scripts';

/** What finds a run and queues it: its tenant, workspace, status and options (RunStore.head). */
export interface RunHead {
  tenant: string;
  workspace_id: string;
  status: RunStatus;
  options: RunDoc['options'];
}

export interface RunStoreOptions {
  redis: Redis;
  prefix: string;
  /**
   * Hard cap of a run's event stream in Redis. The event archiver keeps the stream near
   * EVENTS_MAX_LEN by moving older events into the archive; this cap only bites when the
   * archive cannot be written (storage down) for a long time. @default 10 × 10000
   */
  eventsCap?: number;
  /** How long an Idempotency-Key is remembered. @default 86400 */
  idempotencyTtlS?: number;
  now?: () => number;
}

/** How many queued runs the deployment and a tenant may have; 0 = unlimited. */
export interface QueueLimits {
  maxWaiting: number;
  maxTenantQueued: number;
  /** The Retry-After of a refusal (QUEUE_FULL_RETRY_AFTER_S). @default 5 */
  retryAfterS?: number;
}

export type Refusal = { ok: false; reason: 'missing' | 'invalid' | 'stale' | 'no_slot'; current?: RunStatus };
export type Outcome<T = object> = ({ ok: true; /** When it happened (ISO). */ at: string } & T) | Refusal;

/** What stays of a run once Redis forgot it: enough to find and list it in its archive. */
export interface ListingEntry {
  workspace_id: string;
  status: RunStatus;
  created_at: string;
  finished_at?: string;
}

/** What a tenant's queue stats are made of. */
export interface TenantCounts {
  queued: number;
  running: number;
  deadLettered: number;
  /** Runs that ended, by terminal status. */
  finished: Record<string, number>;
  /** When its oldest queued run was queued (ms), if any. */
  oldestQueuedAt?: number;
}

/** What `endWithTail` hands the archiver: raw stream entries after the archive cursor. */
export interface EndTail {
  endId: string;
  streamLength: number;
  archivedSeq: number;
  entries: [string, string[]][];
}

/** A step's checkpoint a caller hands to the next script instead of writing it on its own. */
export interface StepCheckpoint {
  stepId: string;
  state: StepState | DynamicStep;
  event: StepPayload;
}

export type ListedRun = { run: StoredRun } | { runId: string; archived: ListingEntry };

/**
 * The run engine: every change of a run's state is one named operation, one atomic script
 * (scripts.ts) that owns its fields, its indexes and its event. Apps and other packages
 * change runs only through these.
 */
export interface RunStore {
  /**
   * Stores a new run (status `created`), or returns the run an earlier request with the same
   * idempotency key created. `start` also queues it in the same script (generation 1), within
   * `limits`; the caller then adds its job (the reconciler adds it if the caller dies first).
   */
  create(
    doc: RunDoc,
    opts?: { idempotency?: { key: string; fingerprint: string }; start?: boolean; limits?: QueueLimits },
  ): Promise<{ run: StoredRun; created: boolean }>;
  get(runId: string): Promise<StoredRun | undefined>;
  /** Just the status: cheap enough to poll while a run executes. */
  status(runId: string): Promise<RunStatus | undefined>;
  /**
   * Whether the run's current `end` exists (a retry clears it), undefined when Redis does not
   * hold the run. One HMGET: an SSE stream asks twice while it opens, and reading the whole run
   * for it (the run read script, the doc's JSON) was most of what a stream allocated opening.
   */
  ended(runId: string): Promise<boolean | undefined>;
  /**
   * Whose run it is, its workspace, status and options, undefined when Redis does not hold it:
   * one HMGET where `get` runs the read script over the run's keys and decodes all of it (what
   * opening an SSE stream, a file request or a start needs of the run, no more).
   */
  head(runId: string): Promise<RunHead | undefined>;
  /** The run if it belongs to `tenant`; another tenant's run is indistinguishable from none. */
  getForTenant(tenant: string, runId: string): Promise<StoredRun>;
  /**
   * The tenant's runs, newest first. `entries` holds every listed run in order: those Redis
   * still has, and those retention moved to their archive (by their listing entry); `runs`
   * only the former.
   */
  list(
    tenant: string,
    q: { status?: RunStatus; limit: number; cursor?: string },
  ): Promise<{ runs: StoredRun[]; entries: ListedRun[]; next_cursor?: string }>;

  /**
   * created -> queued. Throws invalid_state, not_found or queue_full. With `tenant`, another
   * tenant's run is not_found: the caller need not read the run first to check whose it is.
   */
  start(runId: string, limits?: QueueLimits, tenant?: string): Promise<{ gen: number; at: string }>;
  /**
   * Starts an attempt; hands back the run as it now is (the caller need not read it). With
   * `slot`, the run's slot among its tenant's (at most `limit`, leases of `leaseMs`) is taken
   * in the same step; without a free one nothing changes and the reason is `no_slot`.
   */
  pickup(
    runId: string,
    gen: number,
    slot?: { limit: number; leaseMs: number },
  ): Promise<Outcome<{ previous: RunStatus; attempts: number; run: StoredRun }>>;
  /**
   * Ends an attempt well; hands back the run as it now is and how many of its events are not
   * archived yet, for the finalizer. `last`: the plan's last step's checkpoint, written first
   * in the same script (kept even when the finish is refused, unless the generation moved on).
   */
  succeed(
    runId: string,
    gen: number,
    result: unknown,
    last?: StepCheckpoint,
    opts?: { releaseSlot?: boolean },
  ): Promise<Outcome<{ run: StoredRun; unarchived: number }>>;
  fail(runId: string, gen: number, error: ErrorData): Promise<Outcome>;
  /** `gen` undefined: whatever the generation (a job BullMQ failed on its own). */
  deadLetter(runId: string, error: ErrorData, gen?: number): Promise<Outcome>;
  handBack(runId: string, gen: number, log: { level: 'info' | 'warn'; message: string }): Promise<Outcome>;
  recover(runId: string, gen: number, message: string): Promise<Outcome<{ gen: number }>>;
  awaitApproval(runId: string, gen: number, approval: Record<string, unknown>): Promise<Outcome>;
  /**
   * Records a person's decision on a step the run waits for and re-queues the run.
   * The first decision is final; a second one is an invalid_state (409).
   */
  decide(runId: string, stepId: string, decision: ApprovalDecision, event: Record<string, unknown>, by?: Actor): Promise<{ gen: number }>;
  /** `by`, who asked, joins the status event (the audit trail); so for decide and retry. */
  cancel(runId: string, error: ErrorData, reason?: string, by?: Actor): Promise<Outcome<{ previous: RunStatus }>>;
  /** `replay` only takes dead letters (the operator's DLQ action). */
  /** Queues a run again (see RETRY_LUA). Throws queue_full past `limits`, as start does. */
  retry(runId: string, mode?: 'retry' | 'replay', by?: Actor, limits?: QueueLimits): Promise<Outcome<{ gen: number; previous: RunStatus }>>;
  checkpoint(
    runId: string,
    stepId: string,
    state: StepState | DynamicStep,
    opts?: { expectGen?: number; event?: StepPayload; transcript?: unknown; usage?: TokenUsage },
  ): Promise<'ok' | 'stale'>;
  /** Appends the final `end` event once; returns whether this call emitted it. */
  end(runId: string): Promise<boolean>;
  /**
   * `end`, and in the same step the events not archived yet (at most `max`, `end` included),
   * the stream's length and the archived-through seq: what the archiver needs to write the
   * last segment without reading the stream again. undefined when this call did not end it.
   */
  endWithTail(runId: string, max: number): Promise<EndTail | undefined>;
  /** The archive is complete: writes the listing entry and starts retention (0 = keep). */
  archived(runId: string, listing: ListingEntry, retentionMs: number): Promise<boolean>;
  /** Forgets a run whose retention is over; false when it is not due (or was retried). */
  /** Forgets a run past its retention; `maxListed`: the tenant's max_listed_runs (0 = no limit). */
  expire(tenant: string, runId: string, maxListed?: number): Promise<boolean>;

  /** The model conversation so far, oldest first. */
  transcript(runId: string): Promise<unknown[]>;
  dlq(q: { limit: number; offset?: number }): Promise<{ runId: string; at: number }[]>;
  dlqSize(): Promise<number>;
  /** Runs that ended, by terminal status, counted once per end (a retried run ends again). */
  finishedCounts(): Promise<Record<string, number>>;
  oldestQueued(): Promise<{ runId: string; at: number } | undefined>;
  /** One tenant's figures from its own indexes (kept by the scripts): a few O(1) reads. */
  tenantCounts(tenant: string): Promise<TenantCounts>;
  /** Runs queued (or running) since before `beforeMs`, oldest first: the reconciler's scan. */
  queuedSince(beforeMs: number, limit: number): Promise<{ runId: string; at: number }[]>;
  runningSince(beforeMs: number, limit: number): Promise<{ runId: string; at: number }[]>;
  /** Runs whose retention is over, oldest first. */
  dueForExpiry(limit: number): Promise<{ tenant: string; runId: string }[]>;
  /** The listing entry of an archived run of `tenant`. */
  listing(tenant: string, runId: string): Promise<ListingEntry | undefined>;
  /** Remembers runs whose archive is still to be written. */
  markArchivePending(runIds: string[]): Promise<void>;
  /** Takes (removes) up to `n` of them; a caller that fails marks them again. */
  takeArchivePending(n: number): Promise<string[]>;
}

type Reply = [string, ...string[]];
type Flat = string[];

/** HGETALL as a script returns it (a flat field/value array) into a record. */
function record(flat: Flat | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (flat) for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** A run snapshot (run hash, steps, approvals) starting at reply[i]. */
function snapshotAt(reply: unknown[], i: number): StoredRun | undefined {
  return decodeRun(record(reply[i] as Flat), record(reply[i + 1] as Flat), record(reply[i + 2] as Flat));
}
type Scripted = Redis & Record<RunScriptName, (...args: (string | number)[]) => Promise<Reply>>;

export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** The actor as the scripts take it: a JSON object of exactly tenant and subject ('' = none). */
const actorJson = (by?: Actor): string => (by ? JSON.stringify({ tenant: by.tenant, subject: by.subject.slice(0, 200) }) : '');

const NO_LIMITS: QueueLimits = { maxWaiting: 0, maxTenantQueued: 0 };

/**
 * The refusal of the create/start scripts' room check. Retry-After is a fixed hint rather than
 * derived from the queue: how soon a slot frees up depends on how long the runs ahead take,
 * which nothing here knows, and a refused retry costs one cheap script call.
 */
function queueFull(reply: Reply, limits: QueueLimits, tenant?: string): QueueFullError {
  const [, which, limit] = reply;
  const retryAfterS = limits.retryAfterS ?? 5;
  return which === 'tenant'
    ? new QueueFullError('max_queued_runs', `tenant ${tenant ?? ''} has ${limit} queued runs, its max_queued_runs; try again later`.replace('  ', ' '), retryAfterS)
    : new QueueFullError('QUEUE_MAX_WAITING', `the queue holds ${limit} waiting runs (QUEUE_MAX_WAITING); try again later`, retryAfterS);
}

export function createRunStore(opts: RunStoreOptions): RunStore {
  const { prefix } = opts;
  const cap = opts.eventsCap ?? 100_000;
  const ttl = opts.idempotencyTtlS ?? 86_400;
  const now = opts.now ?? Date.now;
  const k = runKeys(prefix);
  const redis = opts.redis as Scripted;
  if (!('ayRunCreate' in opts.redis)) {
    for (const [name, lua] of Object.entries(RUN_SCRIPTS)) redis.defineCommand(name, { numberOfKeys: RUN_SCRIPT_KEYS, lua });
  }

  /** Runs one script under the shared calling convention (see scripts.ts). */
  const call = async (name: RunScriptName, runId: string, ...args: (string | number)[]): Promise<{ reply: Reply; at: string }> => {
    const ev = eventKeys(prefix, runId);
    const ms = now();
    const at = new Date(ms).toISOString();
    const reply = await redis[name](
      k.run(runId), k.steps(runId), ev.stream, ev.seq, k.approvals(runId), k.transcript(runId), k.archiveCursor(runId), k.slotWait(runId),
      prefix, runId, at, ms, ev.channel, cap, ...args,
    );
    return { reply, at };
  };

  const refusal = (reply: Reply): Refusal => {
    const [code, current] = reply;
    const reason = code === RUN_CODES.missing ? 'missing' : code === RUN_CODES.stale ? 'stale' : code === RUN_CODES.noSlot ? 'no_slot' : 'invalid';
    return { ok: false, reason, ...(current ? { current: current as RunStatus } : {}) };
  };

  const get = async (runId: string): Promise<StoredRun | undefined> => {
    // `run_x:steps` would name another key of the same run (WRONGTYPE, or another run's data).
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    // One script rather than a MULTI: as consistent, and ioredis builds a pipeline object per
    // MULTI by copying every defined script onto it, which the worker's profile showed per run.
    return snapshotAt((await call('ayRunRead', runId)).reply, 1);
  };

  const gen = (g?: number) => (g === undefined ? '' : String(g));
  const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
  const range = async (key: string, beforeMs: number, limit: number) => {
    const flat = await redis.zrangebyscore(key, '-inf', beforeMs, 'WITHSCORES', 'LIMIT', 0, limit);
    const out: { runId: string; at: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ runId: flat[i]!, at: Number(flat[i + 1]) });
    return out;
  };

  return {
    async create(doc, o = {}) {
      const idem = o.idempotency;
      const steps = doc.steps.flatMap((s) => [s.id, JSON.stringify({ status: 'pending', attempts: 0 })]);
      const idemKey = idem ? k.idempotency(doc.tenant, fingerprint(idem.key)) : '';
      const limits = o.limits ?? NO_LIMITS;
      const { reply, at } = await call(
        'ayRunCreate', doc.id,
        doc.tenant, JSON.stringify(doc), JSON.stringify(steps), idemKey, idem?.fingerprint ?? '', ttl, o.start ? '1' : '0',
        limits.maxWaiting, limits.maxTenantQueued,
      );
      if (reply[0] === RUN_CODES.queueFull) throw queueFull(reply, limits, doc.tenant);
      if (reply[0] === RUN_CODES.exists) {
        const [existingId, existingPrint] = reply[1]!.split(' ') as [string, string];
        if (existingPrint !== idem?.fingerprint) {
          throw new UnprocessableError('Idempotency-Key was already used with a different request body', [
            { path: 'Idempotency-Key', message: 'reused with a different body' },
          ]);
        }
        const run = await get(existingId);
        if (run) return { run, created: false };
        throw new NotFoundError('run', existingId);
      }
      // Built here rather than read back: it is exactly what the script wrote.
      const run: StoredRun = {
        doc,
        ...(o.start ? { status: 'queued' as const, gen: 1, queued_at: at } : { status: 'created' as const, gen: 0 }),
        attempts: 0,
        ended: false,
        steps: stepStates(doc.steps.map((s) => [s.id, { status: 'pending' as const, attempts: 0 }] as const)),
        dynamicSteps: [],
        usage: { prompt_tokens: 0, completion_tokens: 0 },
      };
      return { run, created: true };
    },

    get,

    async status(runId) {
      return ((await redis.hget(k.run(runId), 'status')) ?? undefined) as RunStatus | undefined;
    },

    async ended(runId) {
      if (!RUN_ID_PATTERN.test(runId)) return undefined;
      // `status` is set from creation on: without it the run hash is gone.
      const [ended, status] = await redis.hmget(k.run(runId), 'ended', 'status');
      return status === null ? undefined : ended === '1';
    },

    async head(runId) {
      if (!RUN_ID_PATTERN.test(runId)) return undefined;
      const [tenant, status, doc] = await redis.hmget(k.run(runId), 'tenant', 'status', 'doc');
      if (tenant == null || status == null || doc == null) return undefined;
      const { workspace_id, options } = JSON.parse(doc) as RunDoc;
      return { tenant, status: status as RunStatus, workspace_id, options };
    },

    async getForTenant(tenant, runId) {
      const run = await get(runId);
      if (!run || run.doc.tenant !== tenant) throw new NotFoundError('run', runId);
      return run;
    },

    async list(tenant, { status, limit, cursor }) {
      // Run ids sort by creation time, so the index read in reverse lexicographic order
      // is newest first. A status filter scans forward in bounded batches.
      const index = k.tenantRuns(tenant);
      const entries: ListedRun[] = [];
      let from = cursor ? `(${cursor}` : '+';
      let lastScanned: string | undefined;
      for (let page = 0; page < 20 && entries.length < limit; page++) {
        const ids = await redis.zrevrangebylex(index, from, '-', 'LIMIT', 0, Math.max(limit, 50));
        const loaded = await Promise.all(ids.map(get));
        const gone = ids.filter((_id, i) => !loaded[i]);
        const listings = gone.length > 0 ? await redis.hmget(k.listing(tenant), ...gone) : [];
        const archived = new Map(gone.map((id, i) => [id, listings[i] ? (JSON.parse(listings[i]!) as ListingEntry) : undefined]));
        for (let i = 0; i < ids.length && entries.length < limit; i++) {
          lastScanned = ids[i];
          const r = loaded[i];
          const a = archived.get(ids[i]!);
          if (r && (!status || r.status === status)) entries.push({ run: r });
          else if (a && (!status || a.status === status)) entries.push({ runId: ids[i]!, archived: a });
        }
        if (ids.length === 0 || lastScanned !== ids[ids.length - 1]) break;
        from = `(${lastScanned}`;
      }
      const more =
        lastScanned !== undefined && (await redis.zrevrangebylex(index, `(${lastScanned}`, '-', 'LIMIT', 0, 1)).length > 0;
      const runs = entries.flatMap((e) => ('run' in e ? [e.run] : []));
      return { runs, entries, ...(more ? { next_cursor: lastScanned } : {}) };
    },

    async start(runId, limits = NO_LIMITS, tenant = '') {
      // Called before any read of the run: an id that is not one must not name other keys.
      if (!RUN_ID_PATTERN.test(runId)) throw new NotFoundError('run', runId);
      const { reply, at } = await call('ayRunStart', runId, limits.maxWaiting, limits.maxTenantQueued, tenant);
      if (reply[0] === RUN_CODES.ok) return { gen: Number(reply[1]), at };
      if (reply[0] === RUN_CODES.queueFull) throw queueFull(reply, limits, tenant || (await get(runId))?.doc.tenant);
      if (reply[0] === RUN_CODES.missing) throw new NotFoundError('run', runId);
      throw new InvalidStateError(`run ${runId} is ${reply[1]}; cannot start it`);
    },

    async pickup(runId, g, slot) {
      const { reply, at } = await call('ayRunPickup', runId, g, ...(slot ? [slot.limit, slot.leaseMs] : []));
      if (reply[0] !== RUN_CODES.ok) return refusal(reply);
      const run = snapshotAt(reply, 3);
      if (!run) return { ok: false, reason: 'missing' };
      return { ok: true, at, previous: reply[1] as RunStatus, attempts: Number(reply[2]), run };
    },

    async succeed(runId, g, result, last, o = {}) {
      const step = last ? [last.stepId, JSON.stringify(last.state), JSON.stringify(last.event)] : ['', '', ''];
      const { reply, at } = await call('ayRunFinish', runId, g, 'succeed', json(result ?? null), '', ...step, o.releaseSlot ? '1' : '');
      if (reply[0] !== RUN_CODES.ok) return refusal(reply);
      const run = snapshotAt(reply, 2);
      return run ? { ok: true, at, run, unarchived: Number(reply[5]) } : { ok: false, reason: 'missing' };
    },

    async fail(runId, g, error) {
      const { reply, at } = await call('ayRunFinish', runId, g, 'fail', '', json(error));
      return reply[0] === RUN_CODES.ok ? { ok: true, at } : refusal(reply);
    },

    async deadLetter(runId, error, g) {
      const { reply, at } = await call('ayRunFinish', runId, gen(g), 'dead_letter', '', json(error));
      return reply[0] === RUN_CODES.ok ? { ok: true, at } : refusal(reply);
    },

    async handBack(runId, g, log) {
      const { reply, at } = await call('ayRunHandBack', runId, g, log.level, log.message);
      return reply[0] === RUN_CODES.ok ? { ok: true, at } : refusal(reply);
    },

    async recover(runId, g, message) {
      const { reply, at } = await call('ayRunRecover', runId, g, message);
      return reply[0] === RUN_CODES.ok ? { ok: true, at, gen: Number(reply[1]) } : refusal(reply);
    },

    async awaitApproval(runId, g, approval) {
      const { reply, at } = await call('ayRunAwaitApproval', runId, g, JSON.stringify(approval));
      return reply[0] === RUN_CODES.ok ? { ok: true, at } : refusal(reply);
    },

    async decide(runId, stepId, decision, event, by) {
      const { reply } = await call('ayRunDecide', runId, stepId, JSON.stringify(decision), JSON.stringify(event), actorJson(by));
      switch (reply[0]) {
        case RUN_CODES.ok:
          return { gen: Number(reply[1]) };
        case RUN_CODES.noStep:
          throw new NotFoundError('step', stepId);
        case RUN_CODES.decided:
          throw new InvalidStateError(`step ${stepId} is not awaiting approval (it was already decided, or never asked)`);
        case RUN_CODES.missing:
          throw new NotFoundError('run', runId);
        default:
          throw new InvalidStateError(`run ${runId} is ${reply[1]}, not awaiting_approval`);
      }
    },

    async cancel(runId, error, reason, by) {
      const { reply, at } = await call('ayRunCancel', runId, JSON.stringify(error), reason ?? '', actorJson(by));
      return reply[0] === RUN_CODES.ok ? { ok: true, at, previous: reply[1] as RunStatus } : refusal(reply);
    },

    async retry(runId, mode = 'retry', by, limits = NO_LIMITS) {
      const { reply, at } = await call('ayRunRetry', runId, mode, actorJson(by), limits.maxWaiting, limits.maxTenantQueued);
      if (reply[0] === RUN_CODES.queueFull) throw queueFull(reply, limits, (await get(runId))?.doc.tenant);
      return reply[0] === RUN_CODES.ok ? { ok: true, at, gen: Number(reply[1]), previous: reply[2] as RunStatus } : refusal(reply);
    },

    async checkpoint(runId, stepId, state, o = {}) {
      const { reply } = await call(
        'ayRunCheckpoint', runId,
        stepId, JSON.stringify(state), gen(o.expectGen), o.event ? JSON.stringify(o.event) : '', json(o.transcript),
        o.usage?.prompt_tokens ?? 0, o.usage?.completion_tokens ?? 0,
      );
      return reply[0] === RUN_CODES.stale ? 'stale' : 'ok';
    },

    async end(runId) {
      return (await call('ayRunEnd', runId, 0)).reply[0] === RUN_CODES.ok;
    },

    async endWithTail(runId, max) {
      const { reply } = await call('ayRunEnd', runId, Math.max(1, max));
      if (reply[0] !== RUN_CODES.ok) return undefined;
      const r = reply as unknown[];
      return { endId: r[1] as string, streamLength: Number(r[2]), archivedSeq: Number(r[3]), entries: r[4] as [string, string[]][] };
    },

    async archived(runId, listing, retentionMs) {
      return (await call('ayRunArchived', runId, Math.max(0, Math.round(retentionMs)), JSON.stringify(listing))).reply[0] === RUN_CODES.ok;
    },

    async expire(tenant, runId, maxListed = 0) {
      const keep = Number.isFinite(maxListed) ? Math.max(0, Math.floor(maxListed)) : 0;
      return (await call('ayRunExpire', runId, tenant, keep)).reply[0] === RUN_CODES.ok;
    },

    async transcript(runId) {
      return (await redis.lrange(k.transcript(runId), 0, -1)).map((m) => JSON.parse(m) as unknown);
    },

    async dlq({ limit, offset = 0 }) {
      const flat = await redis.zrevrange(k.dlq, offset, offset + limit - 1, 'WITHSCORES');
      const out: { runId: string; at: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ runId: flat[i]!, at: Number(flat[i + 1]) });
      return out;
    },

    dlqSize: () => redis.zcard(k.dlq),

    async finishedCounts() {
      const raw = await redis.hgetall(k.finished);
      return Object.fromEntries(Object.entries(raw).map(([status, n]) => [status, Number(n)]));
    },

    async oldestQueued() {
      const [runId, at] = await redis.zrange(k.queued, 0, 0, 'WITHSCORES');
      return runId ? { runId, at: Number(at) } : undefined;
    },

    async tenantCounts(tenant) {
      const res = (await redis
        .multi()
        .zcard(k.tenantQueued(tenant))
        .zcard(k.tenantRunning(tenant))
        .zcard(k.tenantDlq(tenant))
        .hgetall(k.tenantFinished(tenant))
        .zrange(k.tenantQueued(tenant), 0, 0, 'WITHSCORES')
        .exec()) as [null | Error, unknown][];
      const failed = res.find(([err]) => err);
      if (failed) throw failed[0];
      const [queued, running, dead, finished, oldest] = res.map(([, v]) => v) as [number, number, number, Record<string, string>, string[]];
      return {
        queued,
        running,
        deadLettered: dead,
        finished: Object.fromEntries(Object.entries(finished).map(([st, n]) => [st, Number(n)])),
        ...(oldest.length === 2 ? { oldestQueuedAt: Number(oldest[1]) } : {}),
      };
    },

    queuedSince: (beforeMs, limit) => range(k.queued, beforeMs, limit),
    runningSince: (beforeMs, limit) => range(k.running, beforeMs, limit),

    async dueForExpiry(limit) {
      const members = await redis.zrangebyscore(k.expiring, '-inf', now(), 'LIMIT', 0, limit);
      return members.map((m) => {
        const [tenant, runId] = m.split(' ') as [string, string];
        return { tenant, runId };
      });
    },

    async listing(tenant, runId) {
      const raw = await redis.hget(k.listing(tenant), runId);
      return raw ? (JSON.parse(raw) as ListingEntry) : undefined;
    },

    async markArchivePending(runIds) {
      if (runIds.length > 0) await redis.sadd(k.archivePending, ...runIds);
    },

    takeArchivePending: (n) => redis.spop(k.archivePending, n),
  };
}
