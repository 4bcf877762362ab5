import type { RequestHandler } from 'express';
import type Redis from 'ioredis';
import type { ApiKey, TenantPolicy } from '@agentyard/config';
import type { ToolRegistry } from '@agentyard/agent';
import type { EventFanout, EventLog } from '@agentyard/events';
import type { ApiMetrics, Logger, Registry } from '@agentyard/observability';
import type { InvocationQueue, RunQueue, WorkerRegistry } from '@agentyard/queue';
import type { QueueLimits, RunFinalizer, RunReader, RunStore, SessionArchive, SessionStore, TenantLeases, TokenBudget } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';
import type { JwtSettings } from './http/authenticator';
import type { AuthFailureLimit } from './http/rate-limit';
import type { SlowClientLimit } from './sse/run-stream';
import type { StreamTickets } from './http/stream-ticket';

/** Everything the API needs, built by main.ts (or a test) and passed in. */
export interface ApiDeps {
  redis: Redis;
  store: RunStore;
  /** Reads runs from Redis, or from their archive once retention removed them there. */
  reader: RunReader;
  events: EventLog;
  fanout: EventFanout;
  queue: RunQueue;
  /** Live workers, from their heartbeats. */
  workers: WorkerRegistry;
  tools: ToolRegistry;
  /** Sessions and direct tool invocations (/v1). */
  sessions: SessionStore;
  invocations: InvocationQueue;
  /** Where sessions and invocations are archived (their workspace), and read from once Redis let them go. */
  sessionArchive?: SessionArchive;
  /** SESSION_RATE_LIMIT_PER_MINUTE and SESSION_MAX_CONCURRENCY, for the words of a 429 (the store enforces them). */
  sessionLimits?: { rate: number; concurrency: number };
  finalizer: RunFinalizer;
  /** The whole store; runs see it through a tenant- and workspace-scoped view. */
  workspace: Workspace;
  apiKeys: ApiKey[];
  /** JWT bearer tokens, when JWT_SECRET or JWT_JWKS_URL is set. */
  jwt?: JwtSettings;
  /** Signs and checks SSE stream tickets; built from `redis` and `keyPrefix` when absent. */
  streamTickets?: StreamTickets;
  /** KEY_PREFIX, for keys the app itself owns (the stream ticket key). */
  keyPrefix?: string;
  logger: Logger;
  registry: Registry;
  metrics: ApiMetrics;
  version: string;
  /** @default '4mb' */
  bodyLimit?: string;
  /** Milliseconds between SSE heartbeats. @default 15000 */
  heartbeatMs?: number;
  /** When a stream whose client does not read is closed (SSE_MAX_BUFFERED_KB, SSE_STALLED_S). @default 1 MiB for 30 s */
  sseSlowClient?: SlowClientLimit;
  /** Whether a model endpoint is configured (prompt-only runs need one). */
  modelConfigured?: boolean;
  /** Backpressure for a tenant's create with start and start: QUEUE_MAX_WAITING and max_queued_runs. */
  queueLimits?(tenant: string): QueueLimits;
  /** Tenant daily token budgets: a tenant with none left gets 429 at create. */
  budget?: { tokens: TokenBudget; dailyLimit(tenant: string): number };
  /** Per-tenant request limit, run after auth; none when the limit is off. */
  rateLimit?: RequestHandler;
  /** Per-address limit on failed authentications, run before auth; none when off. */
  authFailureLimit?: AuthFailureLimit;
  // --- Edge (issue 10) ---
  /** Express `trust proxy` (TRUST_PROXY). @default false */
  trustProxy?: boolean | number | string;
  /** Origins allowed by CORS (CORS_ORIGINS); none turns CORS off. @default [] */
  corsOrigins?: string[];
  /** Bytes of one step's or invocation's args as JSON (API_STEP_ARGS_LIMIT). @default 1048576 */
  stepArgsLimitBytes?: number;
  /** Probe timeout for /readyz. @default 2000 */
  readyTimeoutMs?: number;
  // Tenancy: tenant views, fair shares, /metrics protection.
  /** The tenant's caps (TENANTS_FILE), shown in its queue stats and applied to its SSE streams. */
  tenantPolicy?(tenant: string): TenantPolicy;
  /** Open SSE streams per tenant across API replicas (max_sse_streams); none: uncounted. */
  streamLeases?: TenantLeases;
  /** METRICS_TOKEN: /metrics needs `Authorization: Bearer <it>`; unset: open. */
  metricsToken?: string;
  /** API_METRICS_PORT set: /metrics is served there (main.ts), not on the API's port. */
  metricsOnOwnPort?: boolean;
}
