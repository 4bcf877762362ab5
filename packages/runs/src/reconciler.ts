import type Redis from 'ioredis';
import { within, type RunOptions } from '@agentyard/core';
import { runKeys } from './keys';
import type { RunStore } from './run-store';
import type { SessionStore } from './session-store';
import type { SessionRef } from './session-keys';
import { repairInvocations, type InvocationJobs, type InvocationRepairKind } from './invocation-repair';

/** What BullMQ holds for the job of one run generation. */
export type JobState = 'missing' | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

/** The queue as the reconciler needs it (packages/queue implements it over BullMQ). */
export interface JobInspector {
  state(runId: string, gen: number): Promise<{ state: JobState; locked: boolean; failedReason?: string }>;
  /** Idempotent: the job id derives from run id and generation. */
  add(run: { id: string; tenant: string; gen: number; options: RunOptions }): Promise<void>;
}

export type RepairKind = 'queued_without_job' | 'zombie_requeued' | 'dead_job' | InvocationRepairKind;

export interface Reconciler {
  /** One pass, if this process holds the lease; what it repaired and expired. */
  tick(): Promise<{ leader: boolean; repaired: number; expired: number }>;
  start(): void;
  /** Stops the loop and gives the lease up, so another worker takes over at once. */
  stop(): Promise<void>;
}

/**
 * lease: one reconciler at a time across all workers.
 * KEYS 1 lease key; ARGV 1 owner id, 2 lease ms. Returns 1 when `owner` holds the lease.
 */
const LEASE_LUA = `
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not owner then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Repairs what a split write (run store first, then BullMQ) leaves behind when the writer
 * dies in between, and what a lost job leaves behind:
 *
 * - a run `queued` for longer than one interval with no job of its generation gets that job
 *   (same job id, so a late original add is a no-op);
 * - a run `running` for longer than one interval plus the lock whose job is gone (or
 *   finished) while the run says running is re-queued with a new generation, so a worker
 *   that was only slow finds its checkpoints refused and the run never runs twice; a job
 *   BullMQ failed on its own (stalled too often) dead-letters its run;
 * - runs past their retention are expired, and so are sessions past their expiry;
 * - invocations running for longer than one interval without a job get it (invocation-repair.ts).
 * Every repair calls `onRepair` (a log line and agentyard_reconciled_total{kind}).
 */
export function createReconciler(opts: {
  redis: Redis;
  prefix: string;
  store: RunStore;
  jobs: JobInspector;
  ownerId: string;
  intervalMs: number;
  /** The job lock: a running run younger than interval + lock is left to BullMQ's stall check. */
  lockMs: number;
  onRepair(kind: RepairKind, runId: string, detail: string): void;
  onExpired?(count: number): void;
  /** The tenant's max_listed_runs: how many forgotten runs its listing keeps. @default no limit */
  maxListedRuns?(tenant: string): number;
  /** Sessions past their expiry are closed (status expired) in the same pass, read or not. */
  sessions?: SessionStore;
  /** Called with each session the pass expired (its archive is rewritten). */
  onSessionExpired?(session: SessionRef): Promise<void>;
  /** The invocation queue: running invocations without a job get it. */
  invocationJobs?: InvocationJobs;
  onError?(err: unknown): void;
  now?: () => number;
}): Reconciler {
  const { store, jobs } = opts;
  const now = opts.now ?? Date.now;
  const leaseKey = runKeys(opts.prefix).reconcilerLease;
  const redis = opts.redis as Redis & {
    ayReconcilerLease(...a: (string | number)[]): Promise<number>;
    ayReconcilerRelease(...a: (string | number)[]): Promise<number>;
  };
  if (!('ayReconcilerLease' in opts.redis)) {
    redis.defineCommand('ayReconcilerLease', { numberOfKeys: 1, lua: LEASE_LUA });
    redis.defineCommand('ayReconcilerRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  }
  const BATCH = 200;

  const queuedWithoutJob = async (): Promise<number> => {
    let repaired = 0;
    for (const { runId } of await store.queuedSince(now() - opts.intervalMs, BATCH)) {
      const run = await store.get(runId);
      if (!run || run.status !== 'queued') continue;
      const job = await jobs.state(runId, run.gen);
      if (job.state === 'missing' || job.state === 'completed') {
        await jobs.add({ id: runId, tenant: run.doc.tenant, gen: run.gen, options: run.doc.options });
        opts.onRepair('queued_without_job', runId, `queued since ${run.queued_at ?? '?'} without a job for generation ${run.gen}; job added`);
        repaired += 1;
      } else if (job.state === 'failed') {
        await deadLetterDeadJob(runId, run.gen, job.failedReason);
        repaired += 1;
      }
    }
    return repaired;
  };

  const deadLetterDeadJob = async (runId: string, gen: number, reason?: string) => {
    const message = `its job failed outside the worker: ${reason ?? 'unknown reason'}`;
    if ((await store.deadLetter(runId, { code: 'job_failed', message, retryable: false }, gen)).ok) {
      opts.onRepair('dead_job', runId, message);
    }
  };

  const zombies = async (): Promise<number> => {
    let repaired = 0;
    for (const { runId } of await store.runningSince(now() - opts.intervalMs - opts.lockMs, BATCH)) {
      const run = await store.get(runId);
      if (!run || run.status !== 'running') continue;
      const job = await jobs.state(runId, run.gen);
      if (job.state === 'failed') {
        await deadLetterDeadJob(runId, run.gen, job.failedReason);
        repaired += 1;
        continue;
      }
      // Waiting or delayed: BullMQ's stall check moved it back and a worker will resume it.
      // Active: its worker holds the lock, or the stall check will find that it does not.
      if (job.state !== 'missing' && job.state !== 'completed') continue;
      const r = await store.recover(runId, run.gen, 'the worker running this run is gone and so is its job; re-queued by the reconciler');
      if (!r.ok) continue;
      await jobs.add({ id: runId, tenant: run.doc.tenant, gen: r.gen, options: run.doc.options });
      opts.onRepair('zombie_requeued', runId, `running with no live job for generation ${run.gen}; re-queued as generation ${r.gen}`);
      repaired += 1;
    }
    return repaired;
  };

  const expire = async (): Promise<number> => {
    let n = 0;
    for (const { tenant, runId } of await store.dueForExpiry(500)) if (await store.expire(tenant, runId, opts.maxListedRuns?.(tenant))) n += 1;
    if (n > 0) opts.onExpired?.(n);
    if (opts.sessions) {
      for (const ref of await opts.sessions.due(500)) if ((await opts.sessions.expire(ref)) && opts.onSessionExpired) await opts.onSessionExpired(ref);
    }
    return n;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick: Reconciler['tick'] = async () => {
    const leader = (await redis.ayReconcilerLease(leaseKey, opts.ownerId, opts.intervalMs * 3)) === 1;
    if (!leader) return { leader, repaired: 0, expired: 0 };
    let repaired = (await queuedWithoutJob()) + (await zombies());
    if (opts.sessions && opts.invocationJobs) {
      repaired += await repairInvocations({
        sessions: opts.sessions,
        jobs: opts.invocationJobs,
        beforeMs: now() - opts.intervalMs,
        limit: BATCH,
        onRepair: opts.onRepair,
      });
    }
    return { leader, repaired, expired: await expire() };
  };

  return {
    tick,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        running ??= tick()
          .catch((err: unknown) => opts.onError?.(err))
          .finally(() => (running = undefined));
      }, opts.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      // Bounded: with Redis unreachable neither would ever settle, and shutdown must end.
      if (running) await within(running, 2000);
      await within(redis.ayReconcilerRelease(leaseKey, opts.ownerId).catch(() => undefined), 1000);
    },
  };
}

