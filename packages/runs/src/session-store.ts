import type Redis from 'ioredis';
import { AgentyardError, InvalidStateError, NotFoundError, type ErrorData } from '@agentyard/core';
import { sessionKeys } from './session-keys';
import { SESSION_CODES, SESSION_SCRIPTS, type SessionScriptName } from './session-scripts';

export type ApprovalMode = 'never' | 'writes' | 'all';
export type SessionStatus = 'open' | 'closed' | 'expired';
export type InvocationStatus = 'running' | 'succeeded' | 'failed' | 'denied';

/** What a client chose at create; the tenant always comes from the token. */
export interface SessionDoc {
  workspace_id: string;
  allowed_paths?: string[];
  approval: ApprovalMode;
  metadata: Record<string, unknown>;
}

export interface Session extends SessionDoc {
  id: string;
  tenant: string;
  status: SessionStatus;
  created_at: string;
  expires_at: string;
  closed_at?: string;
}

export interface InvocationResult {
  output?: unknown;
  logs: { ts: string; level: string; message: string; stream?: string }[];
  artifacts: unknown[];
  exit_code?: number;
  duration_ms: number;
  error?: ErrorData;
}

export interface Invocation {
  id: string;
  tenant: string;
  session_id: string;
  tool_name: string;
  args: unknown;
  correlation_id: string | null;
  status: InvocationStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  output: unknown;
  logs: InvocationResult['logs'];
  artifacts: unknown[];
  error: ErrorData | null;
}

export class SessionExistsError extends AgentyardError {
  constructor(sessionId: string) {
    super('session_exists', `session ${sessionId} already exists; choose another session_id or omit it`, { status: 409 });
  }
}

export interface SessionStore {
  create(tenant: string, id: string, doc: SessionDoc, lifetimeS: number): Promise<Session>;
  /** Another tenant's session is indistinguishable from none (NotFoundError). */
  get(tenant: string, id: string): Promise<Session>;
  close(tenant: string, id: string): Promise<Session>;
  /** Sessions whose expiry has passed, oldest first. */
  due(limit: number): Promise<string[]>;
  expire(id: string): Promise<boolean>;
  /** Reserves the correlation id and the record; `reserved` false: an earlier request holds it. */
  reserve(
    tenant: string,
    sessionId: string,
    inv: { id: string; tool_name: string; args: unknown; correlation_id?: string },
  ): Promise<{ invocationId: string; reserved: boolean }>;
  begin(invocationId: string): Promise<'ok' | 'started' | 'gone'>;
  finish(invocationId: string, status: 'succeeded' | 'failed', result: InvocationResult): Promise<boolean>;
  /** Read without a tenant check: workers only. */
  invocation(invocationId: string): Promise<Invocation | undefined>;
  invocationForTenant(tenant: string, invocationId: string): Promise<Invocation>;
  /** Read without a tenant check: workers only. */
  session(id: string): Promise<Session | undefined>;
}

type Reply = [string, string?];
type Scripted = Redis & Record<SessionScriptName, (...a: (string | number)[]) => Promise<Reply>>;

/**
 * Sessions and their invocations in Redis; every change is one script of session-scripts.ts.
 * `recordTtlS`: how long closed sessions and invocations stay readable (the seed's 24 h).
 */
export function createSessionStore(opts: { redis: Redis; prefix: string; recordTtlS?: number; now?: () => number }): SessionStore {
  const k = sessionKeys(opts.prefix);
  const now = opts.now ?? Date.now;
  const ttl = opts.recordTtlS ?? 86_400;
  const redis = opts.redis as Scripted;
  if (!('ayCreateSession' in opts.redis)) {
    for (const [name, s] of Object.entries(SESSION_SCRIPTS)) redis.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
  }

  const session = async (id: string): Promise<Session | undefined> => {
    const h = await redis.hgetall(k.session(id));
    if (!h.tenant) return undefined;
    return {
      id,
      tenant: h.tenant,
      ...(JSON.parse(h.doc!) as SessionDoc),
      status: h.status as SessionStatus,
      created_at: h.created_at!,
      expires_at: h.expires_at!,
      ...(h.closed_at ? { closed_at: h.closed_at } : {}),
    };
  };
  const get = async (tenant: string, id: string) => {
    const s = await session(id);
    if (!s || s.tenant !== tenant) throw new NotFoundError('session', id);
    return s;
  };
  const invocation = async (id: string): Promise<Invocation | undefined> => {
    const h = await redis.hgetall(k.invocation(id));
    if (!h.tenant) return undefined;
    const doc = JSON.parse(h.doc!) as { tool_name: string; args: unknown; correlation_id?: string };
    const r = h.result ? (JSON.parse(h.result) as InvocationResult) : undefined;
    return {
      id,
      tenant: h.tenant,
      session_id: h.session_id!,
      tool_name: doc.tool_name,
      args: doc.args,
      correlation_id: doc.correlation_id ?? null,
      status: h.status as InvocationStatus,
      created_at: h.created_at!,
      started_at: h.started_at ?? null,
      completed_at: h.completed_at ?? null,
      duration_ms: r?.duration_ms ?? null,
      exit_code: r?.exit_code ?? null,
      output: r?.output ?? null,
      logs: r?.logs ?? [],
      artifacts: r?.artifacts ?? [],
      error: r?.error ?? null,
    };
  };

  return {
    session,
    get,
    invocation,
    async create(tenant, id, doc, lifetimeS) {
      const ms = now();
      const expires = ms + lifetimeS * 1000;
      const [code] = await redis.ayCreateSession(
        k.session(id), k.sessionsExpiring,
        id, tenant, JSON.stringify(doc), new Date(ms).toISOString(), expires, new Date(expires).toISOString(), lifetimeS + ttl,
      );
      if (code === SESSION_CODES.exists) throw new SessionExistsError(id);
      return (await session(id))!;
    },
    async close(tenant, id) {
      const [code, status] = await redis.ayCloseSession(k.session(id), k.sessionsExpiring, id, tenant, new Date(now()).toISOString(), ttl);
      if (code === SESSION_CODES.missing) throw new NotFoundError('session', id);
      if (code === SESSION_CODES.invalid) throw new InvalidStateError(`session ${id} is ${status} already`);
      return get(tenant, id);
    },
    due: (limit) => redis.zrangebyscore(k.sessionsExpiring, 0, now(), 'LIMIT', 0, limit),
    async expire(id) {
      const ms = now();
      const [code] = await redis.ayExpireSession(k.session(id), k.sessionsExpiring, id, ms, new Date(ms).toISOString(), ttl);
      return code === SESSION_CODES.ok;
    },
    async reserve(tenant, sessionId, inv) {
      const ms = now();
      const corr = inv.correlation_id;
      const doc = JSON.stringify({ tool_name: inv.tool_name, args: inv.args, ...(corr !== undefined ? { correlation_id: corr } : {}) });
      const [code, detail] = await redis.ayReserveInvocation(
        k.session(sessionId), corr !== undefined ? k.correlation(sessionId, corr) : k.invocation(inv.id), k.invocation(inv.id),
        inv.id, tenant, doc, new Date(ms).toISOString(), ms, ttl, corr !== undefined ? '1' : '0',
      );
      if (code === SESSION_CODES.missing) throw new NotFoundError('session', sessionId);
      if (code === SESSION_CODES.invalid) throw new InvalidStateError(`session ${sessionId} is ${detail}; open a new session`);
      if (code === SESSION_CODES.exists) return { invocationId: detail!, reserved: false };
      return { invocationId: inv.id, reserved: true };
    },
    async begin(id) {
      const [code] = await redis.ayBeginInvocation(k.invocation(id), new Date(now()).toISOString());
      return code === SESSION_CODES.ok ? 'ok' : code === SESSION_CODES.started ? 'started' : 'gone';
    },
    async finish(id, status, result) {
      const [code] = await redis.ayFinishInvocation(k.invocation(id), status, JSON.stringify(result), new Date(now()).toISOString(), ttl);
      return code === SESSION_CODES.ok;
    },
    async invocationForTenant(tenant, id) {
      const inv = await invocation(id);
      if (!inv || inv.tenant !== tenant) throw new NotFoundError('invocation', id);
      return inv;
    },
  };
}
