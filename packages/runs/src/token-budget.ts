import type Redis from 'ioredis';
import { runKeys } from './keys';

/**
 * A tenant's daily token ledger in Redis: `used` (settled) and `reserved` (in flight).
 * A model call reserves its worst case (prompt estimate + the completion cap it asks the
 * model for) before it starts and settles the real usage after, atomically, so concurrent
 * runs of one tenant cannot together overshoot the day's budget by a whole response.
 * Keys are per UTC day and expire, so nothing needs cleaning up.
 */
const RESERVE_LUA = `
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local left = tonumber(ARGV[2]) - used - reserved
if tonumber(ARGV[1]) > left then return {0, left} end
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, left - tonumber(ARGV[1])}
`;

const SETTLE_LUA = `
redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(ARGV[1]))
redis.call('HINCRBY', KEYS[1], 'used', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], 'used')
`;

export interface Reservation {
  tenant: string;
  day: string;
  amount: number;
}

export interface TokenBudget {
  /** Reserves `amount` tokens or answers how many are left (possibly 0). */
  reserve(tenant: string, amount: number, dailyLimit: number): Promise<{ ok: true; reservation: Reservation } | { ok: false; left: number }>;
  settle(reservation: Reservation, actual: number): Promise<void>;
  /** Tokens still available today. */
  left(tenant: string, dailyLimit: number): Promise<number>;
  /** Seconds until the budget resets (next UTC midnight). */
  resetsInS(): number;
}

type Scripted = Redis & {
  ayReserve(...args: (string | number)[]): Promise<[number, number]>;
  aySettle(...args: (string | number)[]): Promise<unknown>;
};

export function createTokenBudget(opts: { redis: Redis; prefix: string; now?: () => number }): TokenBudget {
  const k = runKeys(opts.prefix);
  const redis = opts.redis as Scripted;
  if (!('ayReserve' in opts.redis)) {
    redis.defineCommand('ayReserve', { numberOfKeys: 1, lua: RESERVE_LUA });
    redis.defineCommand('aySettle', { numberOfKeys: 1, lua: SETTLE_LUA });
  }
  const now = opts.now ?? Date.now;
  const day = () => new Date(now()).toISOString().slice(0, 10);
  const ttl = 3 * 24 * 3600;
  return {
    async reserve(tenant, amount, dailyLimit) {
      const d = day();
      const [ok, left] = await redis.ayReserve(k.budget(tenant, d), amount, dailyLimit, ttl);
      return ok === 1 ? { ok: true, reservation: { tenant, day: d, amount } } : { ok: false, left: Math.max(0, left) };
    },
    async settle(r, actual) {
      await redis.aySettle(k.budget(r.tenant, r.day), r.amount, Math.max(0, Math.round(actual)), ttl);
    },
    async left(tenant, dailyLimit) {
      const [used, reserved] = await opts.redis.hmget(k.budget(tenant, day()), 'used', 'reserved');
      return Math.max(0, dailyLimit - Number(used ?? 0) - Number(reserved ?? 0));
    },
    resetsInS() {
      const t = now();
      const midnight = Date.UTC(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth(), new Date(t).getUTCDate() + 1);
      return Math.max(1, Math.ceil((midnight - t) / 1000));
    },
  };
}
