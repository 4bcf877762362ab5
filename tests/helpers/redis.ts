import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';

/** A connection to the test Redis and a key prefix no other test file uses. */
export interface TestRedis {
  redis: Redis;
  url: string;
  prefix: string;
  /** A fresh connection (subscribers, BullMQ) that `cleanup` also closes. */
  connect(opts?: { blocking?: boolean }): Redis;
  /** Deletes only keys under this prefix, then closes every connection. */
  cleanup(extraPatterns?: string[]): Promise<void>;
}

export function testRedis(label = 't'): TestRedis {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `aytest:${label}:${randomBytes(4).toString('hex')}:`;
  const conns: Redis[] = [];
  const connect = (opts: { blocking?: boolean } = {}): Redis => {
    const r = new Redis(url, opts.blocking ? { maxRetriesPerRequest: null } : {});
    conns.push(r);
    return r;
  };
  const redis = connect();
  return {
    redis,
    url,
    prefix,
    connect,
    async cleanup(extraPatterns = []) {
      for (const pattern of [`${prefix}*`, ...extraPatterns]) {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      }
      await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

export function uniqueQueueName(label: string): string {
  return `ay-test-${label}-${randomBytes(4).toString('hex')}`;
}
