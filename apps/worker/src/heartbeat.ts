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
  logger: Logger;
  now?: () => number;
}): Heartbeat {
  const now = opts.now ?? Date.now;
  const id = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const startedAt = new Date(now()).toISOString();
  let lastOk = now();
  let timer: NodeJS.Timeout | undefined;
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
      });
      lastOk = now();
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'worker heartbeat failed');
    }
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
      await opts.registry.remove(id).catch(() => undefined);
    },
    healthy: () => now() - lastOk < opts.intervalMs * 3,
  };
}
