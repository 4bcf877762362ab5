import type Redis from 'ioredis';

/**
 * This process's view of fixed-window counters kept in Redis (the request limits'), synced
 * once per event-loop tick instead of once per request.
 *
 * A request is counted here at once and decided on the count as Redis last reported it plus
 * what this process counted since; every counter touched in a tick is then added to (or read)
 * in one script call for the whole tick, whose answer is the count across all replicas. A
 * request waits for that answer only when the view is older than `freshMs` (a counter this
 * process has not seen for that long, or whose window just ended), so a cold replica never
 * decides on a count it does not have. Under steady traffic nothing waits: a decision is at
 * most one round trip behind the other replicas, which can therefore overshoot a limit by the
 * requests they admit in that round trip; a request that waited is decided exactly.
 *
 * The counting is rate-limit-redis's (a key per counter, `SET n PX window` when the key has no
 * time left, `INCRBY n` otherwise), so replicas of an older API share the counts.
 */
export interface WindowCounters {
  /** Counts one on `key`: the count with this one included, or a promise when it must be read first. */
  hit(key: string): Reading | Promise<Reading>;
  /** The count of `key` without counting, read again this tick (at once when the view is fresh). */
  peek(key: string): Reading | Promise<Reading>;
  /** Reads `key` now, in a call of its own: an exact answer, which the view takes too. */
  read(key: string): Promise<Reading>;
  /** Counts one on `key` now, in a call of its own (the view takes the answer). */
  count(key: string): Promise<Reading>;
}

/** A counter's hits in its current window and the ms left of it; undefined when Redis could not tell. */
export type Reading = { hits: number; msLeft: number } | undefined;

interface View {
  /** Hits Redis reported at the last answer, which included everything sent before it. */
  known: number;
  /** When the window ends by this process's clock; 0 = unknown. */
  windowEnd: number;
  /** When the last answer came; 0 = the view cannot be decided on. */
  readAt: number;
  /** Counted here and sent, not answered yet. */
  sent: number;
  /** Counted here, not sent yet. */
  pending: number;
}

/**
 * KEYS  the counters added to (ARGV[2 + i] each), then the counters only read
 * ARGV  1 how many of KEYS are added to, 2 window ms, 3.. the additions
 * Returns {hits, ms left} per key, flattened (a counter that does not exist: 0, -2).
 */
const SYNC_LUA = `
local adds = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  local hits
  if i <= adds then
    local n = tonumber(ARGV[2 + i])
    if ttl <= 0 then
      redis.call('SET', key, n, 'PX', windowMs)
      hits, ttl = n, windowMs
    else
      hits = redis.call('INCRBY', key, n)
    end
  else
    hits = tonumber(redis.call('GET', key) or '0')
  end
  out[2 * i - 1] = hits
  out[2 * i] = ttl
end
return out`;

type Scripted = Redis & { ayLimitSync(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]> };

/** Views kept before the idle ones are dropped (addresses come and go). */
const MAX_VIEWS = 10_000;

export function createWindowCounters(opts: { redis: Redis; windowMs: number; freshMs?: number; now?: () => number }): WindowCounters {
  if (!('ayLimitSync' in opts.redis)) opts.redis.defineCommand('ayLimitSync', { lua: SYNC_LUA });
  const redis = opts.redis as Scripted;
  const { windowMs } = opts;
  const freshMs = opts.freshMs ?? 1000;
  const now = opts.now ?? Date.now;
  const views = new Map<string, View>();
  const touched = new Set<string>();
  let waiting: (() => void)[] = [];
  let scheduled = false;

  const viewOf = (key: string): View => {
    let v = views.get(key);
    if (v === undefined) {
      if (views.size >= MAX_VIEWS) {
        for (const [k, x] of views) if (x.sent === 0 && x.pending === 0 && !touched.has(k)) views.delete(k);
      }
      v = { known: 0, windowEnd: 0, readAt: 0, sent: 0, pending: 0 };
      views.set(key, v);
    }
    return v;
  };

  const reading = (v: View, t: number): Reading => ({ hits: v.known + v.sent + v.pending, msLeft: v.windowEnd > 0 ? v.windowEnd - t : windowMs });

  const sync = () => {
    scheduled = false;
    const adds: [string, number][] = [];
    const reads: string[] = [];
    for (const key of touched) {
      const v = views.get(key)!;
      if (v.pending > 0) {
        adds.push([key, v.pending]);
        v.sent += v.pending;
        v.pending = 0;
      } else reads.push(key);
    }
    touched.clear();
    const done = waiting;
    waiting = [];
    const keys = [...adds.map(([k]) => k), ...reads];
    redis
      .ayLimitSync(keys.length, ...keys, adds.length, windowMs, ...adds.map(([, n]) => n))
      .then(
        (reply) => {
          const t = now();
          keys.forEach((key, i) => {
            const v = viewOf(key);
            if (i < adds.length) v.sent -= adds[i]![1];
            const ttl = Number(reply[2 * i + 1]);
            v.known = Number(reply[2 * i]);
            v.windowEnd = ttl > 0 ? t + ttl : 0;
            v.readAt = t;
          });
        },
        // Redis could not count: those hits are lost (the window bounds the loss), and whoever
        // waited is decided without a count, as a limit that cannot count lets requests through.
        () => {
          for (const [key, n] of adds) viewOf(key).sent -= n;
        },
      )
      .finally(() => {
        for (const d of done) d();
      });
  };

  const touch = (key: string, count: boolean): Reading | Promise<Reading> => {
    const t = now();
    const v = viewOf(key);
    // The window ended: Redis starts the next one, perhaps with other replicas' hits in it already.
    if (v.windowEnd > 0 && t >= v.windowEnd) {
      v.known = 0;
      v.windowEnd = 0;
      v.readAt = 0;
    }
    if (count) v.pending += 1;
    touched.add(key);
    if (!scheduled) {
      scheduled = true;
      setImmediate(sync);
    }
    if (v.readAt > 0 && t - v.readAt <= freshMs) return reading(v, t);
    return new Promise<Reading>((resolve) => {
      waiting.push(() => resolve(v.readAt > 0 ? reading(v, now()) : undefined));
    });
  };

  /** One counter read (n = 0) or added to at once, outside the tick's sync. */
  const direct = (key: string, n: number): Promise<Reading> =>
    redis.ayLimitSync(1, key, n > 0 ? 1 : 0, windowMs, ...(n > 0 ? [n] : [])).then(([hits, ttl]) => {
      const t = now();
      const v = viewOf(key);
      const msLeft = Number(ttl);
      // The view takes it unless the tick's sync has hits of its own on the way.
      if (v.sent === 0 && v.pending === 0) {
        v.known = Number(hits);
        v.windowEnd = msLeft > 0 ? t + msLeft : 0;
        v.readAt = t;
      }
      return { hits: Number(hits), msLeft: msLeft > 0 ? msLeft : windowMs };
    });

  return {
    hit: (key) => touch(key, true),
    peek: (key) => touch(key, false),
    read: (key) => direct(key, 0),
    count: (key) => direct(key, 1),
  };
}
