import Redis, { type RedisOptions } from 'ioredis';

/** Where Redis is: REDIS_URL alone, or sentinels that name the current primary. */
export interface RedisSettings {
  REDIS_URL: string;
  /** Set together with REDIS_SENTINEL_NAME (loadConfig checks it). */
  REDIS_SENTINELS?: Array<{ host: string; port: number }>;
  REDIS_SENTINEL_NAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
}

/**
 * What the connection is for. It becomes the client name (`CLIENT LIST` shows
 * `agentyard-worker-bullmq`, …), so an operator can tell our connections apart.
 */
export type RedisPurpose = 'api' | 'api-subscriber' | 'api-queue' | 'worker' | 'worker-bullmq';

/**
 * The one place that opens Redis connections for the API and the worker (BullMQ's included:
 * it duplicates the connection it is given, sentinel options and all). Without sentinels it
 * is `new Redis(REDIS_URL, opts)`, exactly as before. With them, ioredis asks the sentinels
 * for the primary of REDIS_SENTINEL_NAME on every (re)connect, so after a failover each
 * reconnect lands on the promoted replica; REDIS_URL lends only its credentials and db.
 */
export function createRedisConnection(settings: RedisSettings, opts: Omit<RedisOptions, 'role'> & { purpose: RedisPurpose }): Redis {
  const { purpose, ...rest } = opts;
  const base: RedisOptions = { connectionName: `agentyard-${purpose}`, ...rest };
  if (!settings.REDIS_SENTINELS?.length || !settings.REDIS_SENTINEL_NAME) return new Redis(settings.REDIS_URL, base);
  return new Redis(sentinelOptions(settings, base));
}

/** Pure, so the mapping is unit-tested without sentinels. */
export function sentinelOptions(settings: RedisSettings, base: RedisOptions = {}): RedisOptions {
  const url = new URL(settings.REDIS_URL);
  const db = Number(url.pathname.slice(1) || 0);
  return {
    ...base,
    sentinels: settings.REDIS_SENTINELS!.map(({ host, port }) => ({ host, port })),
    name: settings.REDIS_SENTINEL_NAME!,
    role: 'master',
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    // A primary that was demoted while we held a connection answers writes with READONLY:
    // reconnect (asking the sentinels again) and resend the command instead of failing it.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    // A failover while the old primary still answers (SENTINEL FAILOVER, a partition) drops
    // no socket: listen for the sentinels' +switch-master and reconnect at once.
    failoverDetector: true,
  };
}
