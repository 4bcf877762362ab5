import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '@agentyard/observability';
import type { WorkerRegistry } from '@agentyard/queue';

export interface Heartbeat {
  readonly id: string;
  start(): void;
  /** Stops beating and leaves the registry at once (after a drain). */
  stop(): Promise<void>;
  /**
   * False once no beat has succeeded for three intervals: Redis unreachable, or an event
   * loop too busy to run the timer. /healthz reports it so the orchestrator restarts us.
   */
  healthy(): boolean;
}

export function createHeartbeat(opts: {
  registry: WorkerRegistry;
  intervalMs: number;
  version: string;
  concurrency: number;
  activeRuns: () => number;
  /** Active runs by tenant (each tenant sees only its own count in GET /agent/workers). */
  activeByTenant?: () => Record<string, number>;
  /** This process's BullMQ worker ids on the run queue, so others can tell its locks. */
  bullIds?: string[];
  /**
   * Recovery of dead workers' jobs (DeadWorkerSweep), run after a beat once this worker's own
   * beats have succeeded without a break for `afterMs`: right after a Redis outage every
   * worker's last beat is old, and none may be judged by it.
   */
  sweep?: { run(): Promise<string[]>; afterMs: number; onMoved(jobIds: string[]): void };
  logger: Logger;
  now?: () => number;
}): Heartbeat {
  const now = opts.now ?? Date.now;
  const id = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const startedAt = new Date(now()).toISOString();
  let lastOk = now();
  let okSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let sweeping = false;
  const sweep = async () => {
    const s = opts.sweep;
    if (!s || sweeping || okSince === undefined || now() - okSince < s.afterMs) return;
    sweeping = true;
    try {
      const moved = await s.run();
      if (moved.length) s.onMoved(moved);
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'dead-worker sweep failed; the next beat retries');
    } finally {
      sweeping = false;
    }
  };
  const beat = async () => {
    try {
      await opts.registry.heartbeat({
        id,
        host: hostname(),
        pid: process.pid,
        version: opts.version,
        concurrency: opts.concurrency,
        active_runs: opts.activeRuns(),
        tenants: opts.activeByTenant?.() ?? {},
        started_at: startedAt,
        ...(opts.bullIds ? { bull_ids: opts.bullIds } : {}),
      });
      // A beat later than three intervals breaks the streak, as a failed one does.
      if (okSince === undefined || now() - lastOk > opts.intervalMs * 3) okSince = now();
      lastOk = now();
    } catch (err) {
      okSince = undefined;
      opts.logger.warn({ err: (err as Error).message }, 'worker heartbeat failed');
      return;
    }
    await sweep();
  };
  return {
    id,
    start() {
      void beat();
      timer = setInterval(() => void beat(), opts.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await opts.registry.remove(id, opts.bullIds).catch(() => undefined);
    },
    healthy: () => now() - lastOk < opts.intervalMs * 3,
  };
}
