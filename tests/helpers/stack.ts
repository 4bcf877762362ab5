import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { isTerminal } from '@agentyard/core';
import { loadConfig, tenantPolicies, type Config } from '@agentyard/config';
import { createLogger } from '@agentyard/observability';
import { createWorkspace, type Workspace } from '@agentyard/workspace';
import { buildApp } from '../../apps/api/src/app';
import { createApiDeps } from '../../apps/api/src/compose';
import { createApiServer } from '../../apps/api/src/http/server';
import { createWorkerRuntime, type WorkerRuntime } from '../../apps/worker/src/compose';
import { testRedis, uniqueQueueName, type TestRedis } from './redis';

export const TOKENS = { acme: 'tok_acme_test_1', globex: 'tok_globex_test_1', ops: 'tok_ops_test_1' } as const;
export const API_KEYS = `acme:${TOKENS.acme},globex:${TOKENS.globex},ops:${TOKENS.ops}:admin`;

export type Driver = 'fs' | 's3';

export interface Stack {
  baseUrl: string;
  /** The API's HTTP server (tests count the requests it sees). */
  server: Server;
  config: Config;
  env: Record<string, string>;
  redis: TestRedis;
  workspace: Workspace;
  deps: Awaited<ReturnType<typeof createApiDeps>>;
  workers: WorkerRuntime[];
  /** Starts one more in-process worker on this stack's queue. */
  startWorker(): Promise<WorkerRuntime>;
  api(method: string, path: string, body?: unknown, opts?: { token?: string; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  /** POST /agent/execute as acme (or `token`). */
  execute(body: unknown, token?: string, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  waitForStatus(runId: string, statuses: string[], timeoutMs?: number, token?: string): Promise<any>;
  /** The run's archived events, read through the files API as a client would (every segment, in order). */
  archivedEvents(runId: string, token?: string): Promise<any[]>;
  stop(): Promise<void>;
}

/**
 * The whole stack in-process on real parts: the API listening on a loopback port, the
 * real Redis with this file's own prefix and queue name, the chosen workspace driver
 * (filesystem, or s3rver), and in-process workers when asked for.
 */
export async function startStack(
  opts: {
    driver?: Driver;
    workers?: number;
    env?: Record<string, string>;
    label?: string;
    tenants?: unknown;
    /** Receives the API's and workers' log lines (at LOG_LEVEL, info when not set in env). */
    logs?: { write(line: string): unknown };
  } = {},
): Promise<Stack> {
  const redis = testRedis(opts.label ?? 'stack');
  const queueName = uniqueQueueName(opts.label ?? 'stack');
  const driver = opts.driver ?? 'fs';
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    KEY_PREFIX: redis.prefix,
    QUEUE_NAME: queueName,
    API_KEYS,
    API_PORT: '0',
    RETRY_BACKOFF_MS: '100',
    WORKER_LOCK_MS: '3000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    WORKER_DRAIN_S: '5',
    WORKER_HEARTBEAT_MS: '500',
    // Tests poll hard; tests/api/rate-limit.test.ts turns the limit on.
    RATE_LIMIT_PER_MIN: '0',
    // tests/api/rate-limit.test.ts turns the failed-auth limit on too.
    AUTH_FAILURES_PER_MIN: '0',
    LOG_LEVEL: opts.logs ? 'info' : (process.env.TEST_LOG_LEVEL ?? 'silent'),
    ...(driver === 's3'
      ? {
          WORKSPACE_DRIVER: 's3',
          S3_ENDPOINT: process.env.TEST_S3_ENDPOINT!,
          S3_BUCKET: process.env.TEST_S3_BUCKET!,
          S3_ACCESS_KEY: 'S3RVER',
          S3_SECRET_KEY: 'S3RVER',
          S3_FORCE_PATH_STYLE: 'true',
        }
      : { WORKSPACE_DRIVER: 'fs', WORKSPACE_DIR: mkdtempSync(join(tmpdir(), 'ay-ws-')) }),
    ...opts.env,
  };
  // Only a directory made here is removed at stop.
  const ownDir = driver === 'fs' && !opts.env?.WORKSPACE_DIR ? env.WORKSPACE_DIR : undefined;
  const config = loadConfig(env, { requireApiKeys: true });
  const workspace =
    driver === 's3'
      ? createWorkspace({
          driver: 's3',
          bucket: config.S3_BUCKET!,
          endpoint: config.S3_ENDPOINT!,
          region: config.S3_REGION,
          accessKeyId: 'S3RVER',
          secretAccessKey: 'S3RVER',
          forcePathStyle: true,
        })
      : createWorkspace({ driver: 'fs', dir: config.WORKSPACE_DIR });
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'test', secrets: config.secrets, destination: opts.logs ?? process.stderr });
  const policies = tenantPolicies(opts.tenants ?? {});
  const deps = await createApiDeps(config, { logger, workspace, version: 'test', policies });
  const server: Server = createApiServer(buildApp(deps), { maxHeaderBytes: config.API_MAX_HEADER_BYTES }).listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workers: WorkerRuntime[] = [];

  const startWorker = async () => {
    const w = await createWorkerRuntime(config, { logger, workspace, policies });
    void w.worker.run();
    w.heartbeat.start();
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 0); i++) await startWorker();

  const api: Stack['api'] = async (method, path, body, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? TOKENS.acme : o.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: string | undefined = o.raw;
    if (body !== undefined) {
      payload = JSON.stringify(body);
    }
    if (payload !== undefined && !headers['Content-Type']) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text (file downloads, /metrics)
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  const stack: Stack = {
    baseUrl,
    server,
    config,
    env,
    redis,
    workspace,
    deps,
    workers,
    startWorker,
    api,
    execute: (body, token, headers) => api('POST', '/agent/execute', body, { ...(token ? { token } : {}), ...(headers ? { headers } : {}) }),
    async waitForStatus(runId, statuses, timeoutMs = 15_000, token?: string) {
      const deadline = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < deadline) {
        last = (await api('GET', `/agent/runs/${runId}`, undefined, token ? { token } : {})).body;
        // A terminal status is written before the run is archived and its `end` event appended;
        // tests that read logs or files next need the run finalised, as a client seeing `end` would.
        if (statuses.includes(last?.status) && (!isTerminal(last.status) || (await deps.store.get(runId))?.ended)) {
          return isTerminal(last.status) ? (await api('GET', `/agent/runs/${runId}`, undefined, token ? { token } : {})).body : last;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`run ${runId} never reached ${statuses.join('|')}; last status ${last?.status}: ${JSON.stringify(last?.error)}`);
    },
    async archivedEvents(runId, token) {
      const auth = token ? { token } : {};
      const dir = `.agent/runs/${runId}/events`;
      const listing = await api('GET', `/agent/runs/${runId}/files?prefix=${encodeURIComponent(dir)}`, undefined, auth);
      if (listing.status !== 200) throw new Error(`listing ${dir}: ${listing.status} ${JSON.stringify(listing.body)}`);
      const out: any[] = [];
      for (const { path } of listing.body.entries as { path: string }[]) {
        const file = await api('GET', `/agent/runs/${runId}/files/${path}`, undefined, auth);
        if (file.status !== 200) throw new Error(`reading ${path}: ${file.status}`);
        for (const line of String(file.body).split('\n')) if (line) out.push(JSON.parse(line));
      }
      return out;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.shutdown(0)));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await deps.queue.queue.obliterate({ force: true }).catch(() => undefined);
      await deps.close();
      await redis.cleanup([`bull:${queueName}:*`]);
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
  return stack;
}
