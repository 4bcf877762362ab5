import type Redis from 'ioredis';

/** What a worker says about itself on every heartbeat. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  version: string;
  concurrency: number;
  active_runs: number;
  /** Active runs by tenant; only operators see the whole map. */
  tenants?: Record<string, number>;
  started_at: string;
  last_seen: string;
  /** Ids of this process's BullMQ workers on the run queue (their lock tokens start with them). */
  bull_ids?: string[];
}

export interface WorkerRegistry {
  heartbeat(info: Omit<WorkerInfo, 'last_seen'>): Promise<void>;
  /** Leaves the registry (a drained worker: nothing of it needs recovering). */
  remove(id: string, bullIds?: string[]): Promise<void>;
  /** Workers whose last heartbeat is younger than the TTL, oldest first. */
  list(): Promise<WorkerInfo[]>;
  /**
   * BullMQ worker ids whose process last beat more than `deadAfterMs` ago (by Redis's clock,
   * so hosts' clocks need not agree), and less than `forgetMs` ago: dead workers whose locks
   * may still hold jobs. Older ones are dropped.
   */
  deadBullIds(deadAfterMs: number, forgetMs?: number): Promise<Set<string>>;
  readonly ttlMs: number;
}

/**
 * beat: stamps BullMQ worker ids with Redis's own time.
 * KEYS 1 bull id index (sorted set)   ARGV ids
 */
const BEAT_LUA = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], ms, ARGV[i]) end
return ms
`;

/**
 * dead: ids last stamped between ARGV 2 and ARGV 1 ms ago; drops those older than ARGV 2.
 * KEYS 1 bull id index   ARGV 1 dead after ms, 2 forget after ms
 */
const DEAD_LUA = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (ms - tonumber(ARGV[2])))
return redis.call('ZRANGEBYSCORE', KEYS[1], ms - tonumber(ARGV[2]), '(' .. (ms - tonumber(ARGV[1])))
`;

type Scripted = Redis & {
  ayWorkerBeat(key: string, ...ids: string[]): Promise<number>;
  ayWorkerDead(key: string, deadAfterMs: number, forgetMs: number): Promise<string[]>;
};

/**
 * Live workers in Redis: a sorted set of ids scored by last heartbeat plus one JSON key per
 * worker that expires with the TTL. A worker that dies or whose event loop is wedged stops
 * heartbeating and drops out by itself; nobody has to clean up after it.
 */
export function createWorkerRegistry(opts: { redis: Redis; prefix: string; ttlMs: number; now?: () => number }): WorkerRegistry {
  const now = opts.now ?? Date.now;
  const index = `${opts.prefix}workers`;
  const key = (id: string) => `${opts.prefix}worker:${id}`;
  const bullIndex = `${opts.prefix}workers:bull`;
  const redis = opts.redis as Scripted;
  if (!('ayWorkerBeat' in opts.redis)) {
    redis.defineCommand('ayWorkerBeat', { numberOfKeys: 1, lua: BEAT_LUA });
    redis.defineCommand('ayWorkerDead', { numberOfKeys: 1, lua: DEAD_LUA });
  }
  return {
    ttlMs: opts.ttlMs,
    async heartbeat(info) {
      const at = now();
      const full: WorkerInfo = { ...info, last_seen: new Date(at).toISOString() };
      await Promise.all([
        opts.redis.multi().set(key(info.id), JSON.stringify(full), 'PX', opts.ttlMs).zadd(index, at, info.id).exec(),
        info.bull_ids?.length ? redis.ayWorkerBeat(bullIndex, ...info.bull_ids) : undefined,
      ]);
    },
    async deadBullIds(deadAfterMs, forgetMs = 10 * 60_000) {
      return new Set(await redis.ayWorkerDead(bullIndex, deadAfterMs, Math.max(forgetMs, deadAfterMs + 1)));
    },
    async remove(id, bullIds = []) {
      const m = opts.redis.multi().del(key(id)).zrem(index, id);
      if (bullIds.length) m.zrem(bullIndex, ...bullIds);
      await m.exec();
    },
    async list() {
      await opts.redis.zremrangebyscore(index, '-inf', now() - opts.ttlMs);
      const ids = await opts.redis.zrange(index, 0, -1);
      if (ids.length === 0) return [];
      const raw = await opts.redis.mget(ids.map(key));
      return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as WorkerInfo);
    },
  };
}
