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
}

export interface WorkerRegistry {
  heartbeat(info: Omit<WorkerInfo, 'last_seen'>): Promise<void>;
  remove(id: string): Promise<void>;
  /** Workers whose last heartbeat is younger than the TTL, oldest first. */
  list(): Promise<WorkerInfo[]>;
  readonly ttlMs: number;
}

/**
 * Live workers in Redis: a sorted set of ids scored by last heartbeat plus one JSON key per
 * worker that expires with the TTL. A worker that dies or whose event loop is wedged stops
 * heartbeating and drops out by itself; nobody has to clean up after it.
 */
export function createWorkerRegistry(opts: { redis: Redis; prefix: string; ttlMs: number; now?: () => number }): WorkerRegistry {
  const now = opts.now ?? Date.now;
  const index = `${opts.prefix}workers`;
  const key = (id: string) => `${opts.prefix}worker:${id}`;
  return {
    ttlMs: opts.ttlMs,
    async heartbeat(info) {
      const at = now();
      const full: WorkerInfo = { ...info, last_seen: new Date(at).toISOString() };
      await opts.redis.multi().set(key(info.id), JSON.stringify(full), 'PX', opts.ttlMs).zadd(index, at, info.id).exec();
    },
    async remove(id) {
      await opts.redis.multi().del(key(id)).zrem(index, id).exec();
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
