import type Redis from 'ioredis';
import { createDefaultToolRegistry } from '@agentyard/agent';
import type { Config } from '@agentyard/config';
import { createEventFanout, quitRedis } from '@agentyard/events';
import { createApiMetrics, createRegistry, Gauge, registerQueueDepth, type Logger } from '@agentyard/observability';
import { coalesceWrites, createInvocationQueue, createRedisConnection, createRunQueue, createWorkerRegistry } from '@agentyard/queue';
import { createRunEngine, createRunReader, createSessionArchive, createSessionStore, createStreamLeases, createTokenBudget } from '@agentyard/runs';
import { tenantPolicies, type TenantPolicies } from '@agentyard/config';
import { scopeWorkspace, tenantRoot, workspaceFromSettings, workspaceRoot, type Workspace } from '@agentyard/workspace';
import type { ApiDeps } from './deps';
import { createRequestLimits } from './http/rate-limit';
import { DEFAULT_SLOW_CLIENT } from './sse/run-stream';
import { createStreamTickets } from './http/stream-ticket';
import { within } from '@agentyard/core';

export type ApiConfig = Pick<
  Config,
  'REDIS_URL' | 'KEY_PREFIX' | 'QUEUE_NAME' | 'API_KEYS' | 'EVENTS_MAX_LEN' | 'RETRY_BACKOFF_MS' | 'API_BODY_LIMIT' | 'SSE_HEARTBEAT_S' | 'LLM_BASE_URL'
>
  & Partial<Pick<Config, 'SSE_MAX_BUFFERED_KB' | 'SSE_STALLED_S'>> &
  Partial<Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD'>> &
  Partial<Pick<Config, 'WORKER_HEARTBEAT_MS' | 'RATE_LIMIT_PER_MIN' | 'RUN_RETENTION_S' | 'QUEUE_MAX_WAITING' | 'QUEUE_FULL_RETRY_AFTER_S' | 'EXECUTOR' | 'EXECUTOR_LOG_LINES'>> &
  // Sessions: record TTL and limits.
  Partial<Pick<Config, 'SESSION_RECORD_TTL_S' | 'SESSION_RATE_LIMIT_PER_MINUTE' | 'SESSION_MAX_CONCURRENCY'>> &
  Partial<Pick<Config, 'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_TENANT_CLAIM' | 'JWT_SCOPES_CLAIM' | 'JWT_CLOCK_SKEW_S' | 'STREAM_TICKET_TTL_S' | 'AUTH_FAILURES_PER_MIN'>> &
  Partial<Pick<Config, 'TRUST_PROXY' | 'CORS_ORIGINS' | 'API_STEP_ARGS_LIMIT'>> &
  Partial<Pick<Config, 'METRICS_TOKEN' | 'API_METRICS_PORT'>>;

/**
 * The API's composition root: connections, stores and the app's dependencies. main.ts and
 * the tests both use it, so tests run the same wiring with their own Redis prefix.
 */
export async function createApiDeps(
  config: ApiConfig,
  opts: { logger: Logger; workspace: Workspace; version: string; registry?: ReturnType<typeof createRegistry>; policies?: TenantPolicies },
): Promise<ApiDeps & { close(): Promise<{ unclosed: string[] }> }> {
  // Fail fast: with Redis down, requests answer 503 at once instead of queueing forever.
  // No auto-pipelining: each batch it sends is an ioredis Pipeline, whose constructor copies
  // every script defined on the connection (BullMQ's and ours, ~60) onto itself: 26 KB
  // allocated per SSE stream opened, and in an A/B of create+start (same run, three rounds)
  // 1,880-2,000 req/s and 0.47-0.51 ms of CPU per request with it against 2,200-3,250 req/s
  // and 0.32-0.47 ms without. A tick's commands still leave in one write (coalesceWrites).
  const commandOpts = { maxRetriesPerRequest: 1, connectTimeout: 5000, lazyConnect: true };
  // BullMQ's queue shares the commands connection: a create's job add then leaves in the same
  // write as the create script instead of a write (and a wake-up of Redis) of its own on a
  // second socket.
  const redis = coalesceWrites(createRedisConnection(config, { purpose: 'api', ...commandOpts }));
  const subscriber = createRedisConnection(config, { purpose: 'api-subscriber', lazyConnect: true });
  await Promise.all([redis.connect(), subscriber.connect()]);
  for (const c of [redis, subscriber]) {
    c.on('error', (err) => opts.logger.warn({ err: err.message }, 'redis connection error'));
  }
  const registry = opts.registry ?? createRegistry();
  const queue = createRunQueue({ connection: redis, name: config.QUEUE_NAME, backoffMs: config.RETRY_BACKOFF_MS });
  const invocations = createInvocationQueue({ connection: redis, queueName: config.QUEUE_NAME });
  const fanout = createEventFanout({ subscriber, prefix: config.KEY_PREFIX });
  const metrics = createApiMetrics(registry);
  const { store, events, finalizer } = createRunEngine({
    redis,
    prefix: config.KEY_PREFIX,
    eventsMaxLen: config.EVENTS_MAX_LEN,
    retentionS: config.RUN_RETENTION_S ?? 7 * 24 * 3600,
    archiveTarget: (run) => scopeWorkspace(opts.workspace, workspaceRoot(run.doc.tenant, run.doc.workspace_id)),
    pointerTarget: (tenant) => scopeWorkspace(opts.workspace, tenantRoot(tenant)),
    onArchiveError: (runId, err) => opts.logger.warn({ runId, err }, 'could not archive run into its workspace'),
    onEnded: (run) => metrics.runsFinished.inc({ status: run.status }),
  });
  const workers = createWorkerRegistry({ redis, prefix: config.KEY_PREFIX, ttlMs: (config.WORKER_HEARTBEAT_MS ?? 5000) * 3 });
  new Gauge({
    name: 'agentyard_workers',
    help: 'Workers with a live heartbeat',
    registers: [registry],
    async collect() {
      this.set((await workers.list()).length);
    },
  });
  registerQueueDepth(registry, async () => {
    const [c, dead, oldest] = await Promise.all([queue.counts(), store.dlqSize(), store.oldestQueued()]);
    return {
      depth: {
        waiting: c.waiting,
        prioritized: c.prioritized,
        delayed: c.delayed,
        delayed_due: c.delayed_due,
        active: c.active,
        failed: c.failed,
        dead_lettered: dead,
      },
      oldestWaitingMs: oldest ? Math.max(0, Date.now() - oldest.at) : 0,
    };
  });
  const reader = createRunReader({
    store,
    events,
    archiveSource: (tenant, workspaceId) => scopeWorkspace(opts.workspace, workspaceRoot(tenant, workspaceId)),
    pointerSource: (tenant) => scopeWorkspace(opts.workspace, tenantRoot(tenant)),
  });
  return {
    redis,
    workers,
    store,
    reader,
    events,
    fanout,
    queue,
    finalizer,
    // Sessions: limits enforced by the store's scripts, archives in the session's workspace.
    sessions: createSessionStore({
      redis,
      prefix: config.KEY_PREFIX,
      recordTtlS: config.SESSION_RECORD_TTL_S ?? 86_400,
      limits: {
        ratePerMinute: config.SESSION_RATE_LIMIT_PER_MINUTE ?? 0,
        maxConcurrency: config.SESSION_MAX_CONCURRENCY ?? 0,
        maxOpenSessions: (tenant) => (opts.policies ?? defaultPolicies).get(tenant).max_open_sessions,
      },
    }),
    sessionArchive: createSessionArchive({
      workspace: (tenant, workspaceId) => scopeWorkspace(opts.workspace, workspaceRoot(tenant, workspaceId)),
      tenantRoot: (tenant) => scopeWorkspace(opts.workspace, tenantRoot(tenant)),
    }),
    sessionLimits: { rate: config.SESSION_RATE_LIMIT_PER_MINUTE ?? 0, concurrency: config.SESSION_MAX_CONCURRENCY ?? 0 },
    invocations,
    // The API validates and lists shell/code tools but never runs them: workers do.
    tools: createDefaultToolRegistry(
      (config.EXECUTOR ?? 'none') === 'none'
        ? {}
        : { exec: { run: () => Promise.reject(new Error('tools run in workers, not in the API')), maxLogLines: config.EXECUTOR_LOG_LINES ?? 1000 } },
    ),
    workspace: opts.workspace,
    apiKeys: config.API_KEYS,
    ...jwtSettings(config),
    keyPrefix: config.KEY_PREFIX,
    streamTickets: createStreamTickets({ redis, prefix: config.KEY_PREFIX, ttlS: config.STREAM_TICKET_TTL_S ?? 60 }),
    logger: opts.logger,
    registry,
    metrics,
    version: opts.version,
    bodyLimit: config.API_BODY_LIMIT,
    heartbeatMs: config.SSE_HEARTBEAT_S * 1000,
    sseSlowClient: {
      maxBufferedBytes: config.SSE_MAX_BUFFERED_KB === undefined ? DEFAULT_SLOW_CLIENT.maxBufferedBytes : config.SSE_MAX_BUFFERED_KB * 1024,
      stalledMs: config.SSE_STALLED_S === undefined ? DEFAULT_SLOW_CLIENT.stalledMs : config.SSE_STALLED_S * 1000,
    },
    modelConfigured: config.LLM_BASE_URL !== undefined,
    queueLimits: (tenant) => ({
      maxWaiting: config.QUEUE_MAX_WAITING ?? 0,
      maxTenantQueued: finiteOrZero((opts.policies ?? defaultPolicies).get(tenant).max_queued_runs),
      retryAfterS: config.QUEUE_FULL_RETRY_AFTER_S ?? 5,
    }),
    budget: {
      tokens: createTokenBudget({ redis, prefix: config.KEY_PREFIX }),
      dailyLimit: (tenant) => (opts.policies ?? defaultPolicies).get(tenant).daily_tokens,
    },
    ...rateLimit(redis, config),
    // Edge (issue 10)
    trustProxy: config.TRUST_PROXY ?? false,
    corsOrigins: config.CORS_ORIGINS ?? [],
    ...(config.API_STEP_ARGS_LIMIT !== undefined ? { stepArgsLimitBytes: config.API_STEP_ARGS_LIMIT } : {}),
    // Tenancy: caps shown in tenant views, SSE streams counted per tenant, /metrics protection.
    tenantPolicy: (tenant) => (opts.policies ?? defaultPolicies).get(tenant),
    streamLeases: createStreamLeases({ redis, prefix: config.KEY_PREFIX }),
    ...(config.METRICS_TOKEN ? { metricsToken: config.METRICS_TOKEN } : {}),
    metricsOnOwnPort: config.API_METRICS_PORT !== undefined,
    /**
     * Closes the fanout, the queue and the connections, within about CLOSE_MS whatever Redis
     * does: what did not close cleanly in time is dropped and named in the result.
     */
    async close() {
      const deadline = Date.now() + CLOSE_MS;
      const left = () => deadline - Date.now();
      const steps: Array<[string, () => Promise<unknown>]> = [
        ['event subscriber', () => fanout.close()],
        ['queue', () => Promise.all([queue.close(), invocations.close()])],
        ['redis connection', () => quitRedis(redis)],
      ];
      const unclosed: string[] = [];
      // Only a step that never settled leaves something open: a QUIT refused because the
      // connection is already down ends the connection just the same.
      for (const [name, step] of steps) if ((await within(step(), left())) === 'timeout') unclosed.push(name);
      // Whatever QUIT did not end (Redis refused or silent) must not keep the process alive.
      for (const c of [redis, subscriber]) c.disconnect();
      if (unclosed.length) opts.logger.warn({ unclosed }, `could not close cleanly: ${unclosed.join(', ')} (Redis did not answer); dropped them`);
      return { unclosed };
    },
  };
}

const defaultPolicies = tenantPolicies({});
const finiteOrZero = (n: number) => (Number.isFinite(n) ? n : 0);

/** How long closing the API's Redis side may take after the drain. */
const CLOSE_MS = 2000;

function rateLimit(redis: Redis, config: ApiConfig): Pick<ApiDeps, 'rateLimit' | 'authFailureLimit'> {
  return createRequestLimits({ redis, prefix: config.KEY_PREFIX, perTenantPerMinute: config.RATE_LIMIT_PER_MIN ?? 0, authFailuresPerMinute: config.AUTH_FAILURES_PER_MIN ?? 0 });
}

/** The workspace the configuration asks for. */
export const workspaceFromConfig = (config: Config): Workspace => workspaceFromSettings(config);

/** loadConfig already checked that a key source comes with its issuer and audience. */
function jwtSettings(config: ApiConfig): Pick<ApiDeps, 'jwt'> {
  if ((config.JWT_SECRET === undefined && config.JWT_JWKS_URL === undefined) || !config.JWT_ISSUER || !config.JWT_AUDIENCE) return {};
  return {
    jwt: {
      ...(config.JWT_SECRET !== undefined ? { secret: config.JWT_SECRET } : { jwksUrl: config.JWT_JWKS_URL! }),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      tenantClaim: config.JWT_TENANT_CLAIM ?? 'tenant',
      scopesClaim: config.JWT_SCOPES_CLAIM ?? 'scope',
      clockSkewS: config.JWT_CLOCK_SKEW_S ?? 30,
    },
  };
}
