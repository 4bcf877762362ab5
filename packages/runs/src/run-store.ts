import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import {
  NotFoundError,
  UnprocessableError,
  InvalidStateError,
  RUN_ID_PATTERN,
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
import { CHECKPOINT_LUA, CREATE_LUA, DECIDE_LUA, END_LUA, TRANSITION_LUA } from './scripts';
import { TRANSITIONS, type TransitionName } from './state-machine';

export interface RunStoreOptions {
  redis: Redis;
  prefix: string;
  /** Events retained per run (the stream's exact MAXLEN). @default 10000 */
  eventsMaxLen?: number;
  /** How long an Idempotency-Key is remembered. @default 86400 */
  idempotencyTtlS?: number;
  now?: () => number;
}

export type TransitionResult =
  | { ok: true; previous: RunStatus; gen: number; attempts: number; /** When it happened (ISO). */ at: string }
  | { ok: false; reason: 'missing' | 'invalid' | 'stale'; current?: RunStatus };

export interface TransitionOptions {
  set?: Record<string, string>;
  del?: string[];
  bumpGen?: boolean;
  bumpAttempts?: boolean;
  /** Stored on the run and sent with the status event. */
  error?: ErrorData;
  result?: unknown;
  /** Refuse when the run was re-enqueued since (a stale worker). */
  expectGen?: number;
}

export interface RunStore {
  /**
   * Stores a new run (status `created`), or returns the run an earlier request with the same
   * idempotency key created. `start` also queues a new run in the same script (generation 1);
   * the caller then adds its job.
   */
  create(
    doc: RunDoc,
    opts?: { idempotency?: { key: string; fingerprint: string }; start?: boolean },
  ): Promise<{ run: StoredRun; created: boolean }>;
  get(runId: string): Promise<StoredRun | undefined>;
  /** Just the status: cheap enough to poll while a run executes. */
  status(runId: string): Promise<RunStatus | undefined>;
  /** The run if it belongs to `tenant`; another tenant's run is indistinguishable from none. */
  getForTenant(tenant: string, runId: string): Promise<StoredRun>;
  list(tenant: string, q: { status?: RunStatus; limit: number; cursor?: string }): Promise<{ runs: StoredRun[]; next_cursor?: string }>;
  transition(runId: string, name: TransitionName, opts?: TransitionOptions): Promise<TransitionResult>;
  checkpoint(
    runId: string,
    stepId: string,
    state: StepState | DynamicStep,
    opts?: { expectGen?: number; event?: StepPayload; transcript?: unknown; usage?: TokenUsage },
  ): Promise<'ok' | 'stale'>;
  /** The model conversation so far, oldest first. */
  transcript(runId: string): Promise<unknown[]>;
  /**
   * Records a person's decision on a step the run waits for and re-queues the run.
   * The first decision is final; a second one is an invalid_state (409).
   */
  decide(runId: string, stepId: string, decision: ApprovalDecision, event: Record<string, unknown>): Promise<{ gen: number }>;
  /** Appends the final `end` event once; returns whether this call emitted it. */
  end(runId: string): Promise<boolean>;
  dlq(q: { limit: number; offset?: number }): Promise<{ runId: string; at: number }[]>;
  dlqSize(): Promise<number>;
  /** Runs that ended, by terminal status, counted once per end (a retried run ends again). */
  finishedCounts(): Promise<Record<string, number>>;
  oldestQueued(): Promise<{ runId: string; at: number } | undefined>;
  /** Remembers runs whose archive is still to be written. */
  markArchivePending(runIds: string[]): Promise<void>;
  /** Takes (removes) up to `n` of them; a caller that fails marks them again. */
  takeArchivePending(n: number): Promise<string[]>;
}

type Scripted = Redis & {
  ayCreate(...args: (string | number)[]): Promise<[string, string]>;
  ayTransition(...args: (string | number)[]): Promise<[string, string, string?, string?]>;
  ayCheckpoint(...args: (string | number)[]): Promise<string>;
  ayEnd(...args: (string | number)[]): Promise<string | null>;
  ayDecide(...args: (string | number)[]): Promise<[string, string]>;
};

export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export function createRunStore(opts: RunStoreOptions): RunStore {
  const { prefix } = opts;
  const maxLen = opts.eventsMaxLen ?? 10_000;
  const ttl = opts.idempotencyTtlS ?? 86_400;
  const now = opts.now ?? Date.now;
  const k = runKeys(prefix);
  const redis = opts.redis as Scripted;
  if (!('ayTransition' in opts.redis)) {
    redis.defineCommand('ayCreate', { numberOfKeys: 7, lua: CREATE_LUA });
    redis.defineCommand('ayTransition', { numberOfKeys: 5, lua: TRANSITION_LUA });
    redis.defineCommand('ayCheckpoint', { numberOfKeys: 5, lua: CHECKPOINT_LUA });
    redis.defineCommand('ayDecide', { numberOfKeys: 6, lua: DECIDE_LUA });
    redis.defineCommand('ayEnd', { numberOfKeys: 4, lua: END_LUA });
  }

  const get = async (runId: string): Promise<StoredRun | undefined> => {
    // `run_x:steps` would name another key of the same run (WRONGTYPE, or another run's data).
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const [[, hash], [, steps], [, approvals]] = (await redis
      .multi()
      .hgetall(k.run(runId))
      .hgetall(k.steps(runId))
      .hgetall(k.approvals(runId))
      .exec()) as [[null, Record<string, string>], [null, Record<string, string>], [null, Record<string, string>]];
    return decodeRun(hash, steps, approvals);
  };

  return {
    async create(doc, opts = {}) {
      const idem = opts.idempotency;
      const ev = eventKeys(prefix, doc.id);
      const steps = doc.steps.flatMap((s) => [s.id, JSON.stringify({ status: 'pending', attempts: 0 })]);
      const idemKey = idem ? k.idempotency(doc.tenant, fingerprint(idem.key)) : k.idempotency(doc.tenant, '-');
      const at = now();
      const ts = new Date(at).toISOString();
      const [outcome, value] = await redis.ayCreate(
        k.run(doc.id), k.steps(doc.id), k.tenantRuns(doc.tenant), idemKey, ev.stream, ev.seq, k.queued,
        doc.id, JSON.stringify(doc), JSON.stringify(steps.length ? steps : []), idem ? '1' : '0',
        idem?.fingerprint ?? '', ttl, ts, ev.channel, maxLen, opts.start ? '1' : '0', at,
      );
      if (outcome === 'exists') {
        const [existingId, existingPrint] = value.split(' ') as [string, string];
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
        ...(opts.start ? { status: 'queued' as const, gen: 1, queued_at: ts } : { status: 'created' as const, gen: 0 }),
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

    async getForTenant(tenant, runId) {
      const run = await get(runId);
      if (!run || run.doc.tenant !== tenant) throw new NotFoundError('run', runId);
      return run;
    },

    async list(tenant, { status, limit, cursor }) {
      // Run ids sort by creation time, so the index read in reverse lexicographic order
      // is newest first. A status filter scans forward in bounded batches.
      const index = k.tenantRuns(tenant);
      const runs: StoredRun[] = [];
      let from = cursor ? `(${cursor}` : '+';
      let lastScanned: string | undefined;
      for (let page = 0; page < 20 && runs.length < limit; page++) {
        const ids = await redis.zrevrangebylex(index, from, '-', 'LIMIT', 0, Math.max(limit, 50));
        const loaded = await Promise.all(ids.map(get));
        for (let i = 0; i < ids.length && runs.length < limit; i++) {
          lastScanned = ids[i];
          const r = loaded[i];
          if (r && (!status || r.status === status)) runs.push(r);
        }
        if (ids.length === 0 || lastScanned !== ids[ids.length - 1]) break;
        from = `(${lastScanned}`;
      }
      const more =
        lastScanned !== undefined && (await redis.zrevrangebylex(index, `(${lastScanned}`, '-', 'LIMIT', 0, 1)).length > 0;
      return { runs, ...(more ? { next_cursor: lastScanned } : {}) };
    },

    async transition(runId, name, o = {}) {
      const t = TRANSITIONS[name];
      const ev = eventKeys(prefix, runId);
      const at = now();
      const set: string[] = [];
      for (const [f, v] of Object.entries(o.set ?? {})) set.push(f, v);
      if (o.error) set.push('error', JSON.stringify(o.error));
      if (o.result !== undefined) set.push('result', JSON.stringify(o.result));
      const extra = o.error ? { error: o.error } : {};
      const flags = [o.bumpGen ? 'gen' : '', o.bumpAttempts ? 'attempts' : ''].join(' ');
      const [outcome, a, b, c] = await redis.ayTransition(
        k.run(runId), ev.stream, ev.seq, k.dlq, k.queued,
        t.from.join(' '), t.to, new Date(at).toISOString(), at, JSON.stringify(set), (o.del ?? []).join(' '),
        flags, ev.channel, maxLen, runId, JSON.stringify(extra), o.expectGen === undefined ? '' : String(o.expectGen),
      );
      if (outcome === 'ok') return { ok: true, previous: a as RunStatus, gen: Number(b), attempts: Number(c), at: new Date(at).toISOString() };
      return { ok: false, reason: outcome as 'missing' | 'invalid' | 'stale', ...(a ? { current: a as RunStatus } : {}) };
    },

    async checkpoint(runId, stepId, state, o = {}) {
      const ev = eventKeys(prefix, runId);
      const r = await redis.ayCheckpoint(
        k.run(runId), k.steps(runId), ev.stream, ev.seq, k.transcript(runId),
        stepId, JSON.stringify(state), o.expectGen === undefined ? '' : String(o.expectGen),
        new Date(now()).toISOString(), ev.channel, maxLen, o.event ? 'step' : '', o.event ? JSON.stringify(o.event) : '',
        o.transcript === undefined ? '' : JSON.stringify(o.transcript),
        o.usage?.prompt_tokens ?? 0, o.usage?.completion_tokens ?? 0,
      );
      return r === 'stale' ? 'stale' : 'ok';
    },

    async transcript(runId) {
      return (await redis.lrange(k.transcript(runId), 0, -1)).map((m) => JSON.parse(m) as unknown);
    },

    async decide(runId, stepId, decision, event) {
      const ev = eventKeys(prefix, runId);
      const at = now();
      const [outcome, value] = await redis.ayDecide(
        k.run(runId), k.steps(runId), k.approvals(runId), ev.stream, ev.seq, k.queued,
        stepId, JSON.stringify(decision), new Date(at).toISOString(), at, ev.channel, maxLen, runId, JSON.stringify(event),
      );
      if (outcome === 'ok') return { gen: Number(value) };
      if (outcome === 'no_step') throw new NotFoundError('step', stepId);
      if (outcome === 'decided') throw new InvalidStateError(`step ${stepId} is not awaiting approval (it was already decided, or never asked)`);
      throw new InvalidStateError(`run ${runId} is ${value || 'gone'}, not awaiting_approval`);
    },

    async end(runId) {
      const ev = eventKeys(prefix, runId);
      const r = await redis.ayEnd(k.run(runId), ev.stream, ev.seq, k.finished, new Date(now()).toISOString(), ev.channel, maxLen);
      return typeof r === 'string';
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

    async markArchivePending(runIds) {
      if (runIds.length > 0) await redis.sadd(k.archivePending, ...runIds);
    },

    takeArchivePending: (n) => redis.spop(k.archivePending, n),
  };
}
