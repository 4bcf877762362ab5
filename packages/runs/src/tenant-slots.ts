import type Redis from 'ioredis';
import { runKeys } from './keys';

/**
 * How many runs of a tenant execute at once. A worker takes a slot before running a run
 * and gives it back after; a run that finds no free slot goes back to the queue (delayed)
 * instead of holding a worker. Slots are leases scored by expiry, so a crashed worker's
 * slot frees itself. BullMQ's per-group concurrency is a BullMQ Pro feature, hence this.
 */
const ACQUIRE_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

export interface TenantSlots {
  acquire(tenant: string, runId: string, limit: number): Promise<boolean>;
  renew(tenant: string, runId: string): Promise<void>;
  release(tenant: string, runId: string): Promise<void>;
  /** True at most once a minute per run: throttles the "waiting for a slot" log line. */
  noteWaiting(runId: string): Promise<boolean>;
  /** Lease length; holders renew well within it. */
  readonly leaseMs: number;
}

export function createTenantSlots(opts: { redis: Redis; prefix: string; leaseMs?: number; now?: () => number }): TenantSlots {
  const k = runKeys(opts.prefix);
  const redis = opts.redis as Redis & { ayAcquireSlot(...args: (string | number)[]): Promise<number> };
  if (!('ayAcquireSlot' in opts.redis)) redis.defineCommand('ayAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  const now = opts.now ?? Date.now;
  const leaseMs = opts.leaseMs ?? 30_000;
  return {
    leaseMs,
    async acquire(tenant, runId, limit) {
      const t = now();
      return (await redis.ayAcquireSlot(k.tenantSlots(tenant), runId, limit, t, t + leaseMs, leaseMs * 4)) === 1;
    },
    async renew(tenant, runId) {
      await opts.redis.zadd(k.tenantSlots(tenant), 'XX', now() + leaseMs, runId);
    },
    async release(tenant, runId) {
      await opts.redis.zrem(k.tenantSlots(tenant), runId);
    },
    async noteWaiting(runId) {
      return (await opts.redis.set(k.slotWait(runId), '1', 'EX', 60, 'NX')) === 'OK';
    },
  };
}
