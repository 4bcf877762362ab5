import { Job, type Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { WorkerRegistry } from './worker-registry';

export interface DeadWorkerSweep {
  /** Moves the active jobs of dead workers back to the queue; returns their ids. */
  sweep(): Promise<string[]>;
}

/**
 * Gives back the jobs of a worker that died (kill -9, lost node) as soon as it misses its
 * heartbeats, instead of when BullMQ's stall check gets to them (lock expiry plus up to two
 * stall intervals: 18 s at our defaults, and once per interval for the whole queue).
 *
 * A job is taken back only when its lock is still held by a BullMQ worker whose process
 * stopped beating `deadAfterMs` ago (Redis's clock): `moveToDelayed(now, token)` with the
 * dead worker's own lock token, as that worker would have done on a hand-back, so BullMQ
 * counts no attempt and wakes a waiting worker. A lock that already expired is BullMQ's stall
 * check's to handle; a worker never seen beating (just started) is never judged. Callers run
 * this only while their own beats have succeeded for `deadAfterMs` (see the heartbeat), so
 * workers coming back from a Redis outage do not judge each other by beats nobody could send.
 *
 * A worker whose event loop is blocked for longer than `deadAfterMs` is judged dead too: its
 * runs resume elsewhere, and when it wakes its BullMQ calls fail on the lost locks. That is
 * the documented limit (WORKER_DEAD_AFTER_MS), as the lock duration is for BullMQ's check.
 */
export function createDeadWorkerSweep(opts: { queue: Queue; redis: Redis; registry: WorkerRegistry; deadAfterMs: number; now?: () => number }): DeadWorkerSweep {
  const now = opts.now ?? Date.now;
  const { queue, redis } = opts;
  return {
    async sweep() {
      const dead = await opts.registry.deadBullIds(opts.deadAfterMs);
      if (dead.size === 0) return [];
      const active = await redis.lrange(queue.keys.active!, 0, -1);
      if (active.length === 0) return [];
      const tokens = await redis.mget(active.map((id) => `${queue.toKey(id)}:lock`));
      const moved: string[] = [];
      for (let i = 0; i < active.length; i++) {
        const token = tokens[i];
        // BullMQ lock tokens are `<worker id>:<n>`.
        if (!token || !dead.has(token.slice(0, token.lastIndexOf(':')))) continue;
        const job = await Job.fromId(queue, active[i]!);
        if (!job) continue;
        try {
          await job.moveToDelayed(now(), token);
          moved.push(active[i]!);
        } catch {
          // Another sweeper (or BullMQ's stall check) moved it first, or the lock changed hands.
        }
      }
      return moved;
    },
  };
}
