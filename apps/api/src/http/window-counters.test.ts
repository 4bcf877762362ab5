import Redis from 'ioredis';
import { testRedis, type TestRedis } from '../../../../tests/helpers/redis';
import { createWindowCounters, type Reading } from './window-counters';

const tick = () => new Promise((r) => setImmediate(r));
const settle = async (x: Reading | Promise<Reading>) => x;

describe('window counters on real Redis', () => {
  let t: TestRedis;
  beforeAll(() => {
    t = testRedis('wincount');
  });
  afterAll(() => t.cleanup());

  it('counts a burst of one tick in one script call, and decides without waiting once its view is fresh', async () => {
    const redis = t.connect();
    const counters = createWindowCounters({ redis, windowMs: 60_000 });
    const calls = jest.spyOn(redis as unknown as { ayLimitSync: () => unknown }, 'ayLimitSync');
    const key = `${t.prefix}burst`;
    // A cold view: the first tick's hits wait for the count across replicas.
    const first = Array.from({ length: 50 }, () => counters.hit(key));
    expect(first.every((r) => r instanceof Promise)).toBe(true);
    const readings = await Promise.all(first);
    expect(readings.map((r) => r?.hits)).toEqual(Array(50).fill(50));
    expect(calls).toHaveBeenCalledTimes(1);
    expect(await redis.get(key)).toBe('50');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(59_000);
    // Fresh: the next tick's hits are decided at once, counting on from what Redis said.
    const next = Array.from({ length: 10 }, () => counters.hit(key));
    expect(next.some((r) => r instanceof Promise)).toBe(false);
    expect((next as Reading[]).map((r) => r!.hits)).toEqual([51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
    expect((next[0] as Reading)!.msLeft).toBeGreaterThan(58_000);
    await tick();
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toHaveBeenCalledTimes(2);
    expect(await redis.get(key)).toBe('60');
  });

  it("takes the other replicas' hits from each sync, and waits again once its view is older than freshMs", async () => {
    let clock = 1_000_000;
    const key = `${t.prefix}shared`;
    const a = createWindowCounters({ redis: t.connect(), windowMs: 60_000, freshMs: 1000, now: () => clock });
    const b = createWindowCounters({ redis: t.connect(), windowMs: 60_000, freshMs: 1000, now: () => clock });
    for (let i = 0; i < 3; i++) await settle(a.hit(key));
    await new Promise((r) => setTimeout(r, 20)); // a's sync has reached Redis
    // b has never seen the key: it waits and sees a's three.
    const cold = b.hit(key);
    expect(cold).toBeInstanceOf(Promise);
    expect((await cold)!.hits).toBe(4);
    // a's view is fresh (it synced on each tick it counted): it decides at once; the count it
    // gives trails b's hit until its sync answers.
    const trailing = a.hit(key);
    expect(trailing).not.toBeInstanceOf(Promise);
    expect((trailing as Reading)!.hits).toBe(4);
    await new Promise((r) => setTimeout(r, 20));
    expect((a.peek(key) as Reading)!.hits).toBe(5);
    // A second later the view is stale: a waits for Redis again.
    clock += 1001;
    const stale = a.hit(key);
    expect(stale).toBeInstanceOf(Promise);
    expect((await stale)!.hits).toBe(6);
  });

  it('starts a new window when Redis does, with a wait for its count', async () => {
    const key = `${t.prefix}window`;
    const counters = createWindowCounters({ redis: t.connect(), windowMs: 150 });
    expect((await settle(counters.hit(key)))!.hits).toBe(1);
    expect((counters.hit(key) as Reading)!.hits).toBe(2);
    await new Promise((r) => setTimeout(r, 250));
    const next = counters.hit(key);
    expect(next).toBeInstanceOf(Promise);
    expect((await next)!.hits).toBe(1);
  });

  it('reads and counts at once outside the sync, and its view takes what they answered', async () => {
    const key = `${t.prefix}direct`;
    const counters = createWindowCounters({ redis: t.connect(), windowMs: 60_000 });
    expect((await counters.read(key))!.hits).toBe(0);
    expect((await counters.count(key))!.hits).toBe(1);
    expect((await counters.count(key))!.hits).toBe(2);
    const seen = counters.peek(key);
    expect(seen).not.toBeInstanceOf(Promise);
    expect((seen as Reading)!.hits).toBe(2);
    expect(await t.redis.get(key)).toBe('2');
  });

  it('answers undefined when Redis cannot count (the limit then lets the request through)', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      const counters = createWindowCounters({ redis: down, windowMs: 60_000 });
      expect(await settle(counters.hit(`${t.prefix}down`))).toBeUndefined();
    } finally {
      down.disconnect();
    }
  });
});
