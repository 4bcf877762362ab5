import { quitRedis } from '@agentyard/events';
import { createDefaultToolRegistry, createSupervisor } from '@agentyard/agent';
import type { Config } from '@agentyard/config';
import { createRegistry, createWorkerMetrics, type Logger, type Registry } from '@agentyard/observability';
import { createReconciler, createRunEngine, createSessionArchive, createSessionArchiver, createSessionStore, type Reconciler, createTenantSlots, createTokenBudget, createWorkspaceUsage } from '@agentyard/runs';
import { tenantPolicies, type TenantPolicies } from '@agentyard/config';
import { createModelDeps, type ModelConfig } from './model-deps';
import { meterWorkspace, scopeWorkspace, tenantRoot, workspaceRoot, type Workspace } from '@agentyard/workspace';
import { buildWorker, type AgentWorker } from './build-worker';
import { coalesceWrites, createDeadWorkerSweep, createInvocationQueue, createRedisConnection, createRunQueue, createWorkerRegistry } from '@agentyard/queue';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { createHeartbeat, type Heartbeat } from './heartbeat';
import { createRunProcessor } from './run-processor';
import { createSlotLimits } from './fair-share';
import { createInvocationWorker } from './invocation-processor';
import { createExecutorFromConfig, type ExecutorConfig } from './executor-deps';
import { within } from '@agentyard/core';

/** After the drain, how long leaving the registry and QUITting Redis may take. */
const CLOSE_MS = 1000;

export type WorkerConfig = Pick<
  Config,
  | 'REDIS_URL'
  | 'KEY_PREFIX'
  | 'QUEUE_NAME'
  | 'EVENTS_MAX_LEN'
  | 'WORKER_CONCURRENCY'
  | 'WORKER_LOCK_MS'
  | 'WORKER_STALLED_INTERVAL_MS'
  | 'WORKER_MAX_STALLED'
> &
  Partial<Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD'>> &
  Partial<Pick<Config, 'WORKER_HEARTBEAT_MS' | 'WORKER_DEAD_AFTER_MS' | 'WORKER_ARCHIVE_RETRY_S' | 'RUN_RETENTION_S' | 'RECONCILE_S' | 'RETRY_BACKOFF_MS'>> &
  Partial<Pick<Config, 'SESSION_RECORD_TTL_S'>> &
  Partial<ModelConfig> &
  ExecutorConfig;

export interface WorkerRuntime extends AgentWorker {
  registry: Registry;
  reconciler: Reconciler;
  heartbeat: Heartbeat;
  ready(): Promise<Record<string, string>>;
  /** Shown on /readyz without affecting readiness: model endpoint breaker states. */
  details(): Record<string, unknown>;
  /**
   * Drains (see AgentWorker.close) and then closes every connection. Ends within `graceMs`
   * + about 3 s whatever Redis does: a connection that does not QUIT in time is dropped.
   */
  shutdown(graceMs: number): Promise<{ notHandedBack: string[]; unclosed: string[] }>;
}

/** The worker's composition root, shared by main.ts and the tests. */
export async function createWorkerRuntime(
  config: WorkerConfig,
  opts: { logger: Logger; workspace: Workspace; registry?: Registry; policies?: TenantPolicies; version?: string },
): Promise<WorkerRuntime> {
  const policies = opts.policies ?? tenantPolicies({});
  // Workers wait out Redis outages instead of failing runs: maxRetriesPerRequest null.
  // Each tick's commands leave in one write (coalesce-writes.ts): concurrent runs' checkpoints,
  // events and BullMQ's lock renewals and job moves.
  const redis = coalesceWrites(createRedisConnection(config, { purpose: 'worker', maxRetriesPerRequest: null }));
  const bullConnection = coalesceWrites(createRedisConnection(config, { purpose: 'worker-bullmq', maxRetriesPerRequest: null }));
  for (const c of [redis, bullConnection]) c.on('error', (err) => opts.logger.warn({ err: err.message }, 'redis connection error'));
  const registry = opts.registry ?? createRegistry();
  const metrics = createWorkerMetrics(registry);
  const workspaceFor = (run: { doc: { tenant: string; workspace_id: string } }) =>
    scopeWorkspace(opts.workspace, workspaceRoot(run.doc.tenant, run.doc.workspace_id));
  // Tenancy: what tools write counts against the tenant's max_workspace_files and _bytes
  // (archives, written through workspaceFor, do not).
  const usage = createWorkspaceUsage({ redis, prefix: config.KEY_PREFIX });
  const toolWorkspace = (tenant: string, workspaceId: string) => {
    const p = policies.get(tenant);
    const metered = meterWorkspace(opts.workspace, { meter: usage, tenant, caps: { files: p.max_workspace_files, bytes: p.max_workspace_bytes } });
    return scopeWorkspace(metered, workspaceRoot(tenant, workspaceId));
  };
  const { store, events, archive, finalizer } = createRunEngine({
    redis,
    prefix: config.KEY_PREFIX,
    eventsMaxLen: config.EVENTS_MAX_LEN,
    retentionS: config.RUN_RETENTION_S ?? 7 * 24 * 3600,
    archiveTarget: workspaceFor,
    pointerTarget: (tenant) => scopeWorkspace(opts.workspace, tenantRoot(tenant)),
    onEnded: (run) => metrics.runsFinished.inc({ status: run.status }),
    onArchiveError: (runId, err) => opts.logger.warn({ runId, err }, 'could not archive run into its workspace'),
  });
  const model = createModelDeps(
    {
      LLM_TIMEOUT_S: 120,
      LLM_MAX_COMPLETION_TOKENS: 4096,
      LLM_BREAKER_FAILURES: 5,
      LLM_BREAKER_RESET_S: 30,
      ...config,
    },
    { registry, logger: opts.logger, tokens: createTokenBudget({ redis, prefix: config.KEY_PREFIX }), policies },
  );
  const executor = await createExecutorFromConfig(config, { logger: opts.logger });
  const tools = createDefaultToolRegistry(executor ? { exec: { run: (req) => executor.exec(req), maxLogLines: config.EXECUTOR_LOG_LINES } } : {});
  const supervisor = createSupervisor({
    store,
    events,
    tools,
    workspaceFor: (run) => toolWorkspace(run.doc.tenant, run.doc.workspace_id),
    ...(model ? { model } : {}),
    onStep: ({ tool, outcome, errorClass, seconds }) => {
      // Only registered tool names (and "model") become label values: bounded cardinality.
      const name = tool === 'model' || tools.get(tool) ? tool : 'unknown';
      metrics.stepDuration.observe({ tool: name, outcome }, seconds);
      metrics.toolCalls.inc({ tool: name, outcome, error_class: errorClass });
    },
  });
  const workerRegistry = createWorkerRegistry({ redis, prefix: config.KEY_PREFIX, ttlMs: (config.WORKER_HEARTBEAT_MS ?? 1000) * 3 });
  // Fair shares: max_concurrent_runs and max_fleet_share of the live workers' slots.
  const slotLimits = createSlotLimits({ policies, registry: workerRegistry, ownConcurrency: config.WORKER_CONCURRENCY });
  const processor = createRunProcessor({
    store,
    events,
    archive,
    archiveTarget: workspaceFor,
    supervisor,
    finalizer,
    logger: opts.logger,
    metrics,
    slots: { slots: createTenantSlots({ redis, prefix: config.KEY_PREFIX }), limit: slotLimits.limit },
  });
  const agentWorker = buildWorker({
    connection: bullConnection,
    queueName: config.QUEUE_NAME,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED,
    processor,
    logger: opts.logger,
    metrics,
  });
  // Only to add the jobs the reconciler repairs and to move dead workers' jobs back; the
  // worker's own BullMQ connection serves jobs.
  const repairQueue = createRunQueue({ connection: redis, name: config.QUEUE_NAME, backoffMs: config.RETRY_BACKOFF_MS ?? 2000 });
  // Dead-worker recovery (issue 11): a killed worker's runs resume after WORKER_DEAD_AFTER_MS
  // of missed beats instead of lock + 2 x stall interval.
  const deadAfterMs = config.WORKER_DEAD_AFTER_MS ?? 5000;
  const deadSweep = createDeadWorkerSweep({ queue: repairQueue.queue, redis, registry: workerRegistry, deadAfterMs });
  const heartbeat = createHeartbeat({
    registry: workerRegistry,
    intervalMs: config.WORKER_HEARTBEAT_MS ?? 1000,
    bullIds: [agentWorker.worker.id],
    sweep: {
      run: () => deadSweep.sweep(),
      afterMs: deadAfterMs,
      onMoved: (jobIds) => {
        metrics.reconciled.inc({ kind: 'dead_worker' }, jobIds.length);
        opts.logger.warn({ jobIds }, 'moved the runs of a worker that stopped heartbeating back to the queue');
      },
    },
    version: opts.version ?? '0.0.0',
    concurrency: config.WORKER_CONCURRENCY,
    activeRuns: () => processor.activeCount(),
    activeByTenant: () => processor.activeByTenant(),
    logger: opts.logger,
  });
  metrics.concurrency.set(config.WORKER_CONCURRENCY);
  // Sessions: the record TTL and archives as the API's (limits are the API's to enforce).
  const sessions = createSessionStore({ redis, prefix: config.KEY_PREFIX, recordTtlS: config.SESSION_RECORD_TTL_S ?? 86_400 });
  const sessionArchiver = createSessionArchiver({
    store: sessions,
    archive: createSessionArchive({
      workspace: (tenant, workspaceId) => scopeWorkspace(opts.workspace, workspaceRoot(tenant, workspaceId)),
      tenantRoot: (tenant) => scopeWorkspace(opts.workspace, tenantRoot(tenant)),
    }),
    onError: (what, err) => opts.logger.warn({ err: (err as Error).message }, `could not archive ${what} into its workspace; retried every WORKER_ARCHIVE_RETRY_S`),
  });
  const invocations = createInvocationWorker({
    connection: bullConnection,
    queueName: config.QUEUE_NAME,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    sessions,
    archiver: sessionArchiver,
    metrics,
    tools,
    workspaceFor: toolWorkspace,
    logger: opts.logger,
  });
  void invocations.worker.run();
  // Only to add the invocation jobs the reconciler repairs (repairQueue above does the runs').
  const repairInvocationQueue = createInvocationQueue({ connection: redis, queueName: config.QUEUE_NAME });
  const reconciler = createReconciler({
    redis,
    prefix: config.KEY_PREFIX,
    store,
    jobs: { state: repairQueue.jobState, add: repairQueue.enqueue },
    ownerId: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    intervalMs: (config.RECONCILE_S ?? 10) * 1000,
    sessions,
    invocationJobs: { state: repairInvocationQueue.jobState, add: repairInvocationQueue.enqueue },
    async onSessionExpired(ref) {
      const s = await sessions.session(ref.tenant, ref.id);
      if (s) await sessionArchiver.session(s);
    },
    lockMs: config.WORKER_LOCK_MS,
    onRepair: (kind, runId, detail) => {
      metrics.reconciled.inc({ kind });
      opts.logger.warn({ runId, kind }, `reconciler: ${detail}`);
    },
    maxListedRuns: (tenant) => policies.get(tenant).max_listed_runs,
    onExpired: (n) => {
      metrics.expired.inc(n);
      opts.logger.info({ expired: n }, 'runs past RUN_RETENTION_S expired from Redis; their archives answer for them');
    },
    onError: (err) => opts.logger.warn({ err: (err as Error).message }, 'reconciler pass failed; the next one retries'),
  });
  reconciler.start();
  // Archives that failed when their runs ended (storage down) are written once it is back.
  let sweeping = false;
  const archiveSweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    Promise.all([finalizer.retryArchives(20), sessionArchiver.retryPending(100)])
      .then(([runs, sessionRecords]) => {
        if (runs.archived > 0) opts.logger.info({ archived: runs.archived }, 'wrote run archives that were pending');
        if (sessionRecords.archived > 0) opts.logger.info({ archived: sessionRecords.archived }, 'wrote session and invocation archives that were pending');
      })
      .catch(() => undefined) // Redis down: the next sweep tries again
      .finally(() => (sweeping = false));
  }, (config.WORKER_ARCHIVE_RETRY_S ?? 15) * 1000);
  archiveSweep.unref();

  return {
    ...agentWorker,
    registry,
    heartbeat,
    details: () => (model ? { model_breakers: model.breakers.states() } : {}),
    async ready() {
      // /readyz answers without a token: it names what is down; the error (paths, hosts) is logged only.
      const checks: Record<string, string> = {};
      const probe = (name: string, p: Promise<unknown>) =>
        p.then(
          () => (checks[name] = 'ok'),
          (e: Error) => {
            opts.logger.warn({ dependency: name, err: e.message }, `readiness: ${name} is down`);
            checks[name] = 'down';
          },
        );
      await Promise.all([probe('redis', redis.ping()), probe('workspace', opts.workspace.ping())]);
      return checks;
    },
    reconciler,
    async shutdown(graceMs) {
      clearInterval(archiveSweep);
      // Bounded: with Redis gone the reconciler's last pass and the repair queue never settle.
      await within(reconciler.stop(), CLOSE_MS);
      await within(Promise.all([repairQueue.close(), repairInvocationQueue.close()]), CLOSE_MS);
      const [{ notHandedBack }] = await Promise.all([agentWorker.close(graceMs), invocations.close()]);
      if (executor) await within(executor.close(), CLOSE_MS);
      const [beat, ...quits] = await Promise.all([
        within(heartbeat.stop(), CLOSE_MS),
        within(quitRedis(redis), CLOSE_MS),
        within(quitRedis(bullConnection), CLOSE_MS),
      ]);
      // A QUIT that Redis never answered leaves a socket (or a reconnect timer) behind.
      redis.disconnect();
      bullConnection.disconnect();
      const unclosed = [
        ...(beat === 'ok' ? [] : ['worker registry entry (expires with its TTL)']),
        ...(quits.some((q) => q === 'timeout') ? ['redis connections (dropped without QUIT)'] : []),
      ];
      if (unclosed.length) opts.logger.warn({ unclosed }, `could not close cleanly: ${unclosed.join(', ')}`);
      return { notHandedBack, unclosed };
    },
  };
}
