import type { Socket } from 'node:net';
import type Redis from 'ioredis';
import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { coalesceWrites } from './coalesce-writes';

/** Counts the socket writes (one per _write, one per _writev of a corked batch) of a connection's current stream. */
function countWrites(redis: Redis): { n: number } {
  const count = { n: 0 };
  const s = (redis as unknown as { stream: Socket & { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void } }).stream;
  const write = s._write.bind(s);
  s._write = (...a) => {
    count.n += 1;
    write(...a);
  };
  const writev = s._writev?.bind(s);
  if (writev) {
    s._writev = (...a) => {
      count.n += 1;
      writev(...a);
    };
  }
  return count;
}

describe('coalesceWrites on real Redis', () => {
  let t: TestRedis;
  beforeAll(() => {
    t = testRedis('coalesce');
  });
  afterAll(() => t.cleanup());

  const oneTick = (r: Redis, key: string) => Promise.all([r.set(key, '0'), ...Array.from({ length: 20 }, () => r.incr(key)), r.get(key)]);

  it("sends one tick's commands in one socket write, each answered in order", async () => {
    const r = coalesceWrites(t.connect());
    await r.ping();
    const writes = countWrites(r);
    const answers = await oneTick(r, `${t.prefix}n`);
    expect(answers[0]).toBe('OK');
    expect(answers.slice(1, 21)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(answers[21]).toBe('20');
    expect(writes.n).toBe(1);
  });

  it('a connection without it writes each command on its own (what the batching saves)', async () => {
    const r = t.connect();
    await r.ping();
    const writes = countWrites(r);
    await oneTick(r, `${t.prefix}plain`);
    expect(writes.n).toBe(22);
  });

  it('keeps coalescing on the new stream after a reconnect', async () => {
    const r = coalesceWrites(t.connect());
    await r.ping();
    const ready = new Promise((resolve) => r.once('ready', resolve));
    (r as unknown as { stream: Socket }).stream.destroy();
    await ready;
    const writes = countWrites(r);
    const answers = await oneTick(r, `${t.prefix}again`);
    expect(answers[21]).toBe('20');
    expect(writes.n).toBe(1);
  });
});
