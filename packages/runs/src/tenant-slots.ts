import type Redis from 'ioredis';
import { runKeys } from './keys';

/**
 * Counted leases of a tenant: how many runs of a tenant execute at once (slots, taken by
 * workers) and how many SSE streams it holds open (streams, taken by API processes). A holder
 * takes a lease before the work and gives it back after; the set is scored by lease expiry and
 * holders renew well within it, so a crashed worker's or API's leases free themselves instead
 * of leaking counts. BullMQ's per-group concurrency is a BullMQ Pro feature, hence this.
 *
 * LEASE_LUA defines ay_lease(set, holder, limit, now, until, set ttl): 1 when the holder has a
 * lease (taken now, or renewed), 0 when the set is at its limit. The run engine's pickup script
 * takes a run's slot with it, in the same step as the pickup.
 */
export const LEASE_LUA = `
local function ay_lease(set, holder, limit, now, expiry, set_ttl)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  if redis.call('ZSCORE', set, holder) then
    redis.call('ZADD', set, expiry, holder)
    return 1
  end
  if redis.call('ZCARD', set) >= tonumber(limit) then return 0 end
  redis.call('ZADD', set, expiry, holder)
  redis.call('PEXPIRE', set, set_ttl)
  return 1
end
`;

/** ARGV 1 holder id, 2 limit, 3 now (ms), 4 expiry of the lease (ms), 5 PEXPIRE of the set (ms). */
const ACQUIRE_LUA = `${LEASE_LUA}
return ay_lease(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`;

/** A lease's set lives this many lease lengths after the last lease was taken or renewed. */
export const LEASE_SET_TTL_LEASES = 4;

export interface TenantLeases {
  acquire(tenant: string, holder: string, limit: number): Promise<boolean>;
  /** Extends leases still held (one round trip for all of them); a lost lease is not re-taken. */
  renew(tenant: string, ...holders: string[]): Promise<void>;
  release(tenant: string, holder: string): Promise<void>;
  /** Leases of the tenant not yet expired. */
  held(tenant: string): Promise<number>;
  /** Lease length; holders renew well within it. */
  readonly leaseMs: number;
}

export interface TenantSlots extends TenantLeases {
  /** True at most once a minute per run: throttles the "waiting for a slot" log line. */
  noteWaiting(runId: string): Promise<boolean>;
}

interface LeaseOptions {
  redis: Redis;
  prefix: string;
  leaseMs?: number;
  now?: () => number;
}

function createTenantLeases(opts: LeaseOptions, key: (tenant: string) => string): TenantLeases {
  const redis = opts.redis as Redis & { ayAcquireLease(...args: (string | number)[]): Promise<number> };
  if (!('ayAcquireLease' in opts.redis)) redis.defineCommand('ayAcquireLease', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  const now = opts.now ?? Date.now;
  const leaseMs = opts.leaseMs ?? 30_000;
  return {
    leaseMs,
    async acquire(tenant, holder, limit) {
      const t = now();
      return (await redis.ayAcquireLease(key(tenant), holder, limit, t, t + leaseMs, leaseMs * LEASE_SET_TTL_LEASES)) === 1;
    },
    async renew(tenant, ...holders) {
      if (holders.length === 0) return;
      const until = now() + leaseMs;
      // The set's own TTL goes along: set only when a lease is taken, it would drop every lease
      // of a tenant whose holders all outlive it (runs or streams longer than 4 leases).
      await opts.redis
        .multi()
        .zadd(key(tenant), 'XX', ...holders.flatMap((h) => [until, h]))
        .pexpire(key(tenant), leaseMs * LEASE_SET_TTL_LEASES)
        .exec();
    },
    async release(tenant, holder) {
      await opts.redis.zrem(key(tenant), holder);
    },
    held: (tenant) => opts.redis.zcount(key(tenant), `(${now()}`, '+inf'),
  };
}

/** Concurrency slots of a tenant's runs, taken by workers (max_concurrent_runs). */
export function createTenantSlots(opts: LeaseOptions): TenantSlots {
  const k = runKeys(opts.prefix);
  return {
    ...createTenantLeases(opts, k.tenantSlots),
    async noteWaiting(runId) {
      return (await opts.redis.set(k.slotWait(runId), '1', 'EX', 60, 'NX')) === 'OK';
    },
  };
}

/** Open SSE streams of a tenant across API replicas (max_sse_streams). */
export function createStreamLeases(opts: LeaseOptions): TenantLeases {
  return createTenantLeases(opts, runKeys(opts.prefix).tenantStreams);
}
