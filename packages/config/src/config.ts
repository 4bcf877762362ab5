import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Every setting Agentyard reads, validated once by `loadConfig(env)` in each app's
 * main.ts. Packages never read process.env; they receive the slice they need.
 */
const Env = z.object({
  /** Where runs, events and the BullMQ queue live. Use AOF and `noeviction` in production. */
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  // --- Redis Sentinel (issue 11): when REDIS_SENTINELS is set, every connection asks these
  // sentinels for the current primary of REDIS_SENTINEL_NAME instead of dialling REDIS_URL's
  // host; REDIS_URL then only lends its password, username and db to the data connections.
  /** `host:port,host:port,…` of the sentinels; unset: connect to REDIS_URL directly. */
  REDIS_SENTINELS: z
    .string()
    .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'expected host:port,host:port,…')
    .transform((s) => s.split(',').map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) })))
    .refine((list) => list.every((s) => s.port >= 1 && s.port <= 65535), 'a sentinel port must be 1-65535')
    .optional(),
  /** The master name the sentinels monitor (`sentinel monitor <name> …`); required with REDIS_SENTINELS. */
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  /** `requirepass` of the sentinels themselves, when they have one (a secret: never logged). */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** Prefix of every Agentyard key, so several deployments or test runs share one Redis safely. */
  KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/).default('ay:'),
  /** BullMQ queue name; BullMQ's own keys read `bull:<QUEUE_NAME>:…`. */
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('agent-runs'),
  /** Port of the API; a port another process holds fails the start naming this variable. */
  API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /**
   * `tenant:token[:admin],…`, or `tenant:sha256:<64 hex>[:admin]` so only the key's digest sits in
   * the environment. Tokens are secrets: they are never logged.
   */
  API_KEYS: z.string().default(''),
  /** HS256 secret of JWT bearer tokens (at least 32 characters); or JWT_JWKS_URL, not both. */
  JWT_SECRET: z.string().min(32).optional(),
  /** JWKS of the identity provider; cached, refetched when a token names an unknown `kid`. */
  JWT_JWKS_URL: z.url().optional(),
  /** Required `iss` and `aud` of JWTs; both required once JWTs are on. */
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** Claim naming the tenant. */
  JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
  /** Claim holding the scopes, space separated as in OAuth 2 (an array is accepted too). */
  JWT_SCOPES_CLAIM: z.string().min(1).default('scope'),
  /** Leeway on `exp` and `nbf`, for clocks that drift. */
  JWT_CLOCK_SKEW_S: z.coerce.number().int().min(0).max(300).default(30),
  /** Lifetime of a stream ticket (POST /agent/runs/:id/stream-token). */
  STREAM_TICKET_TTL_S: z.coerce.number().int().min(1).max(3600).default(60),
  WORKSPACE_DRIVER: z.enum(['fs', 's3']).default('fs'),
  /** Root of the filesystem workspace (WORKSPACE_DRIVER=fs). */
  WORKSPACE_DIR: z.string().min(1).default('./.data/workspaces'),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).optional(),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  /** MinIO, s3rver and most self-hosted stores need path-style addressing. */
  S3_FORCE_PATH_STYLE: z.stringbool().default(true),
  LLM_BASE_URL: z.url().optional(),
  LLM_API_KEY: z.string().min(1).optional(),
  LLM_MODEL: z.string().min(1).optional(),
  /** Per model call; a slower answer counts as a retryable failure. */
  LLM_TIMEOUT_S: z.coerce.number().min(1).max(3600).default(120),
  /** Completion tokens asked for per model turn (and reserved against budgets). */
  LLM_MAX_COMPLETION_TOKENS: z.coerce.number().int().min(16).default(4096),
  /** Consecutive model failures that open the circuit breaker for an endpoint. */
  LLM_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  /** How long an open breaker waits before letting one probe call through. */
  LLM_BREAKER_RESET_S: z.coerce.number().min(0.1).default(30),
  /** Per-tenant daily token budgets and concurrency limits (YAML or JSON). */
  TENANTS_FILE: z.string().min(1).optional(),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  /**
   * How long a worker may go without renewing a job's lock before another worker takes the
   * job over. With the stalled check below, a run on a killed worker resumes within
   * lock + 2 × interval at worst (18 s by default; the stall check runs once per interval for the whole queue). Shorter values risk false stalls on a busy
   * event loop.
   */
  WORKER_LOCK_MS: z.coerce.number().int().min(1000).default(8000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(5000),
  /** A job that stalls more often than this is failed by BullMQ, and we dead-letter the run. */
  WORKER_MAX_STALLED: z.coerce.number().int().min(0).max(100).default(2),
  /** On SIGTERM, active runs get this long to finish before they are handed back to the queue. */
  WORKER_DRAIN_S: z.coerce.number().int().min(0).max(3600).default(25),
  /**
   * How often a worker heartbeats to the registry; it counts as gone after three missed
   * beats, and its /healthz fails when its own beats stop succeeding for that long.
   */
  WORKER_HEARTBEAT_MS: z.coerce.number().int().min(100).default(1000),
  /**
   * Dead-worker recovery (issue 11): a worker whose beats stopped this long ago is dead, and
   * live workers move the runs it held back to the queue (kill -9 -> step restarted within
   * about this + 2 beats). A worker whose event loop is blocked for longer is judged dead too,
   * so keep it well above your longest synchronous stretch. At least 3 beats.
   */
  WORKER_DEAD_AFTER_MS: z.coerce.number().int().min(300).default(5000),
  /** How often a worker writes run archives that failed while storage was down. */
  WORKER_ARCHIVE_RETRY_S: z.coerce.number().min(0.1).default(15),
  /**
   * Port of the worker's /metrics and /healthz. Several workers on one host each need their
   * own, or 0: any free port, which the worker logs at start.
   */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Base of the exponential backoff between attempts of a failed run. */
  RETRY_BACKOFF_MS: z.coerce.number().int().min(0).default(2000),
  /**
   * Events a run keeps in Redis. Older ones move to its archive (`.agent/runs/<id>/events/`)
   * as the run goes, so history is complete while Redis stays bounded; ten times this is a
   * hard cap that only bites when storage is down for long.
   */
  EVENTS_MAX_LEN: z.coerce.number().int().min(10).default(10000),
  /**
   * How long Redis keeps a run after it ended and its archive is complete; then the API
   * answers for it from the archive. 0 keeps runs in Redis forever.
   */
  RUN_RETENTION_S: z.coerce.number().min(0).default(7 * 24 * 3600),
  /**
   * How often one worker (holding a Redis lease) repairs split writes: queued runs without a
   * job, running runs whose worker and job are gone; and expires runs past their retention.
   */
  RECONCILE_S: z.coerce.number().min(0.2).max(3600).default(10),
  // Sessions (/v1): record TTL and per-session limits of direct tool invocations.
  /** How long Redis keeps ended invocations and closed sessions (the seed's 24 h); then their workspace archive answers. */
  SESSION_RECORD_TTL_S: z.coerce.number().int().min(60).max(90 * 24 * 3600).default(86_400),
  /** Invocations one session may start per minute (a fixed window); beyond it 429 rate_limited. 0 = no limit. */
  SESSION_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(120),
  /** Invocations of one session running at once; beyond it 429 rate_limited. 0 = no limit. */
  SESSION_MAX_CONCURRENCY: z.coerce.number().int().min(0).default(4),
  /** Queued runs the whole deployment may hold; a create with start or a start beyond it is 429 queue_full. 0 = no limit. */
  QUEUE_MAX_WAITING: z.coerce.number().int().min(0).default(0),
  /**
   * The Retry-After (seconds) of a queue_full refusal. Raise it where runs take minutes, so
   * refused clients do not poll a queue that cannot drain that fast.
   */
  QUEUE_FULL_RETRY_AFTER_S: z.coerce.number().int().min(1).max(3600).default(5),
  /** Body size limit of the API. Prompts have their own limit of 200,000 characters. */
  API_BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i).default('4mb'),
  SSE_HEARTBEAT_S: z.coerce.number().min(0.05).default(15),
  /**
   * An SSE stream with more than this many KB waiting in the API for its client (the kernel's
   * socket buffers full) for SSE_STALLED_S is closed; the client resumes from its last event
   * id. 0 = no limit.
   */
  SSE_MAX_BUFFERED_KB: z.coerce.number().int().min(0).default(1024),
  /** How long a stream may stay past SSE_MAX_BUFFERED_KB before it is closed. */
  SSE_STALLED_S: z.coerce.number().min(0.1).max(3600).default(30),
  /** On SIGTERM, how long the API lets requests in flight finish before it closes every connection (SSE clients resume elsewhere). */
  API_DRAIN_S: z.coerce.number().min(0).max(300).default(10),
  // Tenancy: who may read the API's /metrics (queue depth and per-route traffic of every tenant).
  /** Bearer token /metrics requires when set (at least 16 characters); a secret, never logged. Unset: /metrics is open. */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** Serve /metrics on this port instead of API_PORT (for a scrape network the API's clients cannot reach); unset: on API_PORT. */
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Requests per minute each tenant may make to /agent and /admin, counted in Redis across API replicas; 0 turns the limit off. */
  RATE_LIMIT_PER_MIN: z.coerce.number().int().min(0).default(3000),
  /** Requests per minute from one address that may fail authentication (401) before it gets 429; 0 turns it off. */
  AUTH_FAILURES_PER_MIN: z.coerce.number().int().min(0).default(100),
  /**
   * Where shell.exec and code.run run: `none` (the tools are not offered), `local` (a
   * bubblewrap sandbox on the worker's host) or `k8s` (one Kubernetes Job per command).
   */
  EXECUTOR: z.enum(['none', 'local', 'k8s']).default('none'),
  /** EXECUTOR=local without bubblewrap: runs commands as plain child processes. Only for a trusted laptop. */
  EXECUTOR_UNSANDBOXED: z.stringbool().default(false),
  /** Bytes of stdout and of stderr a result carries; the whole streams are kept as workspace files. */
  EXECUTOR_OUTPUT_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** Output lines streamed as `log` events per step; beyond it one notice, the rest only in the files. */
  EXECUTOR_LOG_LINES: z.coerce.number().int().min(0).max(100_000).default(1000),
  /** Workspace size copied into a sandbox; a larger one is refused before anything is copied. */
  EXECUTOR_WORKSPACE_MAX_MB: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Files of a workspace copied into a sandbox. */
  EXECUTOR_WORKSPACE_MAX_FILES: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Memory of one command (local: RLIMIT_DATA of each process, and a V8 heap of half of it; k8s: the container limit). */
  EXECUTOR_MEMORY_MB: z.coerce.number().int().min(16).max(1_000_000).default(512),
  /** CPU of a k8s tool Job's container (request and limit), in millicores. */
  EXECUTOR_CPU_MILLI: z.coerce.number().int().min(10).max(64_000).default(1000),
  /** Largest file a command may write. */
  EXECUTOR_FILE_MAX_MB: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Processes a command may run at once. */
  EXECUTOR_MAX_PROCESSES: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Namespace of the tool Jobs (EXECUTOR=k8s). */
  EXECUTOR_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/).default('agentyard-sandbox'),
  /** Images per code.run language and for shell.exec (EXECUTOR=k8s). */
  EXECUTOR_IMAGE_PYTHON: z.string().min(1).default('python:3.12-slim'),
  EXECUTOR_IMAGE_NODE: z.string().min(1).default('node:24-bookworm-slim'),
  EXECUTOR_IMAGE_SHELL: z.string().min(1).default('debian:bookworm-slim'),
  /** Image of the init and upload containers that move files through presigned URLs (needs curl and tar). */
  EXECUTOR_IMAGE_TRANSFER: z.string().min(1).default('curlimages/curl:8.10.1'),
  /** A finished tool Job is deleted by Kubernetes this long after it ends (the executor deletes it sooner). */
  EXECUTOR_JOB_TTL_S: z.coerce.number().int().min(0).default(300),
  /** Kubernetes API: in-cluster service account when unset, else this kubeconfig file. */
  KUBECONFIG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // --- Edge of the API (issue 10: limits, proxies, CORS) ---
  /**
   * Which proxies' X-Forwarded-For the API believes, as Express's `trust proxy`: `false` (the
   * socket address is the client; the default), a number of hops, or a comma-separated list of
   * addresses, CIDRs and `loopback`/`linklocal`/`uniquelocal`. Behind an ingress set it, or the
   * failed-auth limit counts every client as the ingress's one address.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .default('false')
    .refine(trustProxyValid, 'false, true, a number of hops, or a comma-separated list of addresses/CIDRs (loopback, linklocal, uniquelocal)')
    .transform((v): boolean | number | string => (v === 'false' ? false : v === 'true' ? true : /^\d+$/.test(v) ? Number(v) : v)),
  /** Browser origins allowed to call the API (CORS), comma separated (`https://app.example.com`); empty = CORS off. */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s?#]+$/, 'each origin is scheme://host[:port], without a path'))),
  /**
   * One step's `args` (and one session invocation's) as JSON, like `1mb` or `256kb`; beyond it a
   * 400 naming `steps[i].args`. Files written through fs.write travel in args: raise it (up to
   * API_BODY_LIMIT) where plans carry bigger files.
   */
  API_STEP_ARGS_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'a size like 1mb, 256kb or 65536b')
    .default('1mb')
    .transform((v) => {
      const [, n, unit] = /^(\d+)(b|kb|mb)$/i.exec(v)!;
      return Number(n) * { b: 1, kb: 1024, mb: 1024 * 1024 }[unit!.toLowerCase() as 'b' | 'kb' | 'mb'];
    }),
  /** Bytes of request line plus headers Node accepts; beyond it a 431 in the JSON envelope. */
  API_MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
});

/** What Express's `trust proxy` (proxy-addr) accepts, checked here so a typo fails the start with its name. */
function trustProxyValid(v: string): boolean {
  if (/^(false|true|\d{1,2})$/.test(v)) return true;
  return v.split(',').every((item) => {
    const [addr = '', bits, ...rest] = item.trim().split('/');
    if (rest.length > 0) return false;
    if (bits === undefined && ['loopback', 'linklocal', 'uniquelocal'].includes(addr)) return true;
    const family = isIP(addr);
    if (family === 0) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  });
}

export interface ApiKey {
  tenant: string;
  /** SHA-256 of the token, lowercase hex: what requests are compared against. */
  sha256: string;
  /** The token itself when API_KEYS holds it in clear (a secret: never logged). */
  token?: string;
  admin: boolean;
}

export type Config = Omit<z.infer<typeof Env>, 'API_KEYS'> & {
  API_KEYS: ApiKey[];
  /** Values that must never reach a log line. */
  secrets: string[];
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function parseApiKeys(raw: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .forEach((entry, i) => {
      const parts = entry.split(':');
      const hashed = parts[1] === 'sha256';
      const [tenant, token, flag, ...rest] = hashed ? [parts[0], parts[2], ...parts.slice(3)] : parts;
      if (!tenant || !token || rest.length > 0 || (flag !== undefined && flag !== 'admin')) {
        problems.push(`API_KEYS entry ${i + 1}: expected tenant:token, tenant:sha256:<hex> or either with :admin`);
      } else if (!TENANT.test(tenant)) {
        problems.push(`API_KEYS entry ${i + 1}: tenant "${tenant}" must be lowercase letters, digits, _ or -`);
      } else if (hashed && !/^[0-9a-fA-F]{64}$/.test(token)) {
        problems.push(`API_KEYS entry ${i + 1}: the sha256 digest of tenant "${tenant}" must be 64 hex digits`);
      } else if (!hashed && token.length < 8) {
        problems.push(`API_KEYS entry ${i + 1}: token of tenant "${tenant}" is shorter than 8 characters`);
      } else {
        const sha256 = hashed ? token.toLowerCase() : createHash('sha256').update(token).digest('hex');
        keys.push({ tenant, sha256, admin: flag === 'admin', ...(hashed ? {} : { token }) });
      }
    });
  const digests = new Set<string>();
  for (const k of keys) {
    if (digests.has(k.sha256)) problems.push(`API_KEYS: a token is used twice (tenant "${k.tenant}")`);
    digests.add(k.sha256);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

/** Validate the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv, opts: { requireApiKeys?: boolean } = {}): Config {
  const blankless = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const r = Env.safeParse(blankless);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || 'env'}: ${i.message}`));
  }
  const c = r.data;
  const problems: string[] = [];
  if (c.WORKSPACE_DRIVER === 's3') {
    for (const k of ['S3_BUCKET', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const) {
      if (!c[k]) problems.push(`${k}: required when WORKSPACE_DRIVER=s3`);
    }
  }
  let apiKeys: ApiKey[] = [];
  try {
    apiKeys = parseApiKeys(c.API_KEYS);
  } catch (e) {
    problems.push(...(e as ConfigError).problems);
  }
  if (c.EXECUTOR === 'k8s' && c.WORKSPACE_DRIVER !== 's3') {
    problems.push('EXECUTOR: k8s moves files through presigned S3 URLs, so it needs WORKSPACE_DRIVER=s3 (the fs driver is local to one host)');
  }
  problems.push(...jwtProblems(c));
  // Dead-worker recovery: a worker must get a few beats in before it can be judged dead.
  if (c.WORKER_DEAD_AFTER_MS < c.WORKER_HEARTBEAT_MS * 3) {
    problems.push(`WORKER_DEAD_AFTER_MS: must be at least 3 x WORKER_HEARTBEAT_MS (${c.WORKER_HEARTBEAT_MS * 3}), or live workers are judged dead between beats`);
  }
  if ((c.REDIS_SENTINELS === undefined) !== (c.REDIS_SENTINEL_NAME === undefined)) {
    problems.push(c.REDIS_SENTINELS ? 'REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set' : 'REDIS_SENTINELS: required when REDIS_SENTINEL_NAME is set');
  }
  if (c.REDIS_SENTINEL_PASSWORD !== undefined && c.REDIS_SENTINELS === undefined) {
    problems.push('REDIS_SENTINEL_PASSWORD: set only with REDIS_SENTINELS, which is missing');
  }
  const jwtOn = c.JWT_SECRET !== undefined || c.JWT_JWKS_URL !== undefined;
  if (opts.requireApiKeys && apiKeys.length === 0 && !jwtOn && problems.length === 0) {
    problems.push('API_KEYS: required (or JWT_SECRET / JWT_JWKS_URL), e.g. acme:tok_acme_123,ops:tok_ops_123:admin');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const redisPassword = (() => {
    try {
      return decodeURIComponent(new URL(c.REDIS_URL).password);
    } catch {
      return undefined;
    }
  })();
  const secrets = [...apiKeys.map((k) => k.token), c.JWT_SECRET, c.S3_SECRET_KEY, c.LLM_API_KEY, c.METRICS_TOKEN, redisPassword, c.REDIS_SENTINEL_PASSWORD].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
  return { ...c, API_KEYS: apiKeys, secrets };
}

/** A JWT setting without its partner: each problem names the variable to set. */
function jwtProblems(c: z.infer<typeof Env>): string[] {
  const problems: string[] = [];
  const source = c.JWT_SECRET !== undefined || c.JWT_JWKS_URL !== undefined;
  if (c.JWT_SECRET !== undefined && c.JWT_JWKS_URL !== undefined) {
    problems.push('JWT_SECRET: set JWT_SECRET (HS256) or JWT_JWKS_URL, not both');
  }
  if (source) {
    if (c.JWT_ISSUER === undefined) problems.push('JWT_ISSUER: required when JWT_SECRET or JWT_JWKS_URL is set');
    if (c.JWT_AUDIENCE === undefined) problems.push('JWT_AUDIENCE: required when JWT_SECRET or JWT_JWKS_URL is set');
  } else {
    for (const k of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (c[k] !== undefined) problems.push(`${k}: set only with JWT_SECRET or JWT_JWKS_URL, which is missing`);
    }
  }
  return problems;
}
