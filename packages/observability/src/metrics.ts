import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Registry } from 'prom-client';

/** A fresh registry per process (and per test), never prom-client's global one. */
export function createRegistry(opts: { defaults?: boolean; labels?: Record<string, string> } = {}): Registry {
  const registry = new Registry();
  if (opts.labels) registry.setDefaultLabels(opts.labels);
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'agentyard_' });
  return registry;
}

/**
 * Runs that reached a terminal status, counted by whichever process finalizes them (the
 * worker for runs it executed, the API for runs cancelled before any worker took them),
 * so each run counts once; sum across processes.
 */
function runsTotal(registry: Registry) {
  return new Counter({
    name: 'agentyard_runs_total',
    help: 'Runs that reached a terminal status, by status',
    labelNames: ['status'] as const,
    registers: [registry],
  });
}

/**
 * Why an invocation was denied: a fixed set, so a label value never carries a free-text
 * message (the seed's did, and every new message became a new series).
 */
export const INVOCATION_DENIAL_REASONS = [
  'approval_required',
  'high_risk_tool',
  'path_not_allowed',
  'scope_not_allowed',
  'rate_limited',
  'concurrency_limited',
] as const;
export type InvocationDenialReason = (typeof INVOCATION_DENIAL_REASONS)[number];

/**
 * Direct tool invocations by registered tool name (never a client's string) and status: the
 * API counts the denied ones, the worker those it ran (succeeded, failed); sum across processes.
 */
function invocationsTotal(registry: Registry) {
  return new Counter({
    name: 'agentyard_invocations_total',
    help: 'Direct tool invocations (sessions) by tool and status (succeeded, failed, denied)',
    labelNames: ['tool', 'status'] as const,
    registers: [registry],
  });
}

export function createApiMetrics(registry: Registry) {
  return {
    httpRequests: new Counter({
      name: 'agentyard_http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'agentyard_http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['route', 'method'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    runsCreated: new Counter({
      name: 'agentyard_runs_created_total',
      help: 'Runs created',
      registers: [registry],
    }),
    sseClients: new Gauge({
      name: 'agentyard_sse_clients',
      help: 'SSE clients currently connected',
      registers: [registry],
    }),
    runsFinished: runsTotal(registry),
    authRejections: new Counter({
      name: 'agentyard_auth_rejections_total',
      help: 'Refused credentials by bounded reason (missing_token, malformed, bad_signature, token_expired, unknown_kid, claim_mismatch, insufficient_scope)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sseStreams: new Counter({
      name: 'agentyard_sse_streams_total',
      help: 'SSE streams by how they ended',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    invocations: invocationsTotal(registry),
    // The error envelope's code is one of a fixed set (AgentyardError codes): bounded labels.
    apiErrors: new Counter({
      name: 'agentyard_api_errors_total',
      help: 'Error answers by error.code (queue_full, rate_limited, cap_reached, validation_failed, ...) and status',
      labelNames: ['code', 'status'] as const,
      registers: [registry],
    }),
    invocationDenials: new Counter({
      name: 'agentyard_invocation_denials_total',
      help: `Invocations refused before they ran, by tool and reason (${INVOCATION_DENIAL_REASONS.join(', ')})`,
      labelNames: ['tool', 'reason'] as const,
      registers: [registry],
    }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export function createWorkerMetrics(registry: Registry) {
  return {
    runsFinished: runsTotal(registry),
    runDuration: new Histogram({
      name: 'agentyard_run_duration_seconds',
      help: 'Run attempt duration, by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    stepDuration: new Histogram({
      name: 'agentyard_step_duration_seconds',
      help: 'Step duration by tool and outcome',
      labelNames: ['tool', 'outcome'] as const,
      buckets: [0.005, 0.05, 0.25, 1, 5, 30, 120, 600],
      registers: [registry],
    }),
    toolCalls: new Counter({
      name: 'agentyard_tool_calls_total',
      help: 'Steps by tool (registered tools and "model"), outcome and error class',
      labelNames: ['tool', 'outcome', 'error_class'] as const,
      registers: [registry],
    }),
    queueWait: new Histogram({
      name: 'agentyard_queue_wait_seconds',
      help: 'Time from a run being queued to a worker picking it up',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'agentyard_run_retries_total',
      help: 'Run attempts that failed with a retryable error and went back to the queue',
      registers: [registry],
    }),
    stalled: new Counter({
      name: 'agentyard_stalled_recoveries_total',
      help: 'Jobs found stalled (worker died or lost its lock) and recovered',
      registers: [registry],
    }),
    activeRuns: new Gauge({
      name: 'agentyard_worker_active_runs',
      help: 'Runs this worker is executing',
      registers: [registry],
    }),
    /** With active runs: the saturation alert compares the two, summed over workers. */
    concurrency: new Gauge({
      name: 'agentyard_worker_concurrency',
      help: 'Runs this worker may execute at once (WORKER_CONCURRENCY)',
      registers: [registry],
    }),
    reconciled: new Counter({
      name: 'agentyard_reconciled_total',
      help: 'Repairs: queued runs given their missing job, zombie runs re-queued, dead jobs dead-lettered (reconciler); dead workers\' runs moved back to the queue (dead_worker)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    invocations: invocationsTotal(registry),
    invocationDuration: new Histogram({
      name: 'agentyard_invocation_duration_seconds',
      help: 'Direct tool invocation duration in the worker, by tool and status',
      labelNames: ['tool', 'status'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: [registry],
    }),
    expired: new Counter({
      name: 'agentyard_runs_expired_total',
      help: 'Ended runs forgotten by Redis after RUN_RETENTION_S (their archive answers for them)',
      registers: [registry],
    }),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/**
 * Queue depth read on every scrape (not on a timer), so it is never stale and costs
 * nothing when nobody scrapes. Every API replica reports the same queue-wide figures;
 * aggregate with max, not sum.
 */
export function registerQueueDepth(registry: Registry, read: () => Promise<{ depth: Record<string, number>; oldestWaitingMs: number }>) {
  let last: Promise<{ depth: Record<string, number>; oldestWaitingMs: number }> | undefined;
  // One read serves both gauges of a scrape.
  const snapshot = () => (last ??= read().finally(() => setTimeout(() => (last = undefined), 0)));
  new Gauge({
    name: 'agentyard_queue_depth',
    help: 'Jobs by state: waiting (plain wait list), prioritized, delayed, delayed_due, active, failed, dead_lettered',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const { depth } = await snapshot();
      for (const [state, n] of Object.entries(depth)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'agentyard_queue_oldest_waiting_age_seconds',
    help: 'Age of the oldest queued run that no worker has started',
    registers: [registry],
    async collect() {
      this.set((await snapshot()).oldestWaitingMs / 1000);
    },
  });
}
