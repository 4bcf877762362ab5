import type Redis from 'ioredis';
import { InvalidStateError, NotFoundError, type ErrorData } from '@agentyard/core';
import { sessionKeys, sessionMember, sessionRefOf, type SessionRef } from './session-keys';
import { SESSION_CODES, SESSION_SCRIPTS, type SessionScriptName } from './session-scripts';
import {
  OpenSessionsLimitError,
  SessionExistsError,
  type Invocation,
  type InvocationDraft,
  type InvocationResult,
  type InvocationStatus,
  type Session,
  type SessionDoc,
  type SessionLimit,
  type SessionStatus,
} from './session-types';

/**
 * Sessions are named by tenant and id together (session-keys.ts): every method that takes a
 * session id takes its tenant, and another tenant's session of the same id is another session.
 */
export interface SessionStore {
  /** 409 SessionExistsError only when this tenant holds the id already. */
  create(tenant: string, id: string, doc: SessionDoc, lifetimeS: number): Promise<Session>;
  /** Another tenant's session is indistinguishable from none (NotFoundError). */
  get(tenant: string, id: string): Promise<Session>;
  close(tenant: string, id: string): Promise<Session>;
  /** Sessions whose expiry has passed, oldest first. */
  due(limit: number): Promise<SessionRef[]>;
  expire(session: SessionRef): Promise<boolean>;
  /** Reserves the correlation id and the record; `reserved` false: an earlier request holds it. */
  /** A session limit refusing is an answer, not an error: the caller records the denial. */
  reserve(
    tenant: string,
    sessionId: string,
    inv: InvocationDraft,
  ): Promise<{ invocationId: string; reserved: boolean } | { limited: SessionLimit; retryAfterS: number }>;
  /** Records an invocation that was refused before it ran (status denied). */
  deny(tenant: string, sessionId: string, inv: InvocationDraft, error: ErrorData): Promise<Invocation>;
  begin(invocationId: string): Promise<'ok' | 'started' | 'gone'>;
  finish(invocationId: string, status: 'succeeded' | 'failed', result: InvocationResult): Promise<boolean>;
  /** Invocations reserved before `beforeMs` and still running: the reconciler's work list. */
  runningSince(beforeMs: number, limit: number): Promise<string[]>;
  /** Drops an id whose record is gone or ended from that work list. */
  forgetRunning(invocationId: string): Promise<void>;
  /** Its archive write failed: keep the record (no TTL) and list it for a retry. False: the record is gone. */
  archivePending(record: ArchiveRecordRef): Promise<boolean>;
  /** The oldest records whose archive is pending. */
  pendingArchives(limit: number): Promise<ArchiveRecordRef[]>;
  /** The retry wrote it: off the list, and the record gets its TTL back. */
  archiveDone(record: ArchiveRecordRef): Promise<void>;
  /** Read without a tenant check: workers only. */
  invocation(invocationId: string): Promise<Invocation | undefined>;
  invocationForTenant(tenant: string, invocationId: string): Promise<Invocation>;
  /** The tenant's session, or undefined: for the workers and the reader, which answer absence themselves. */
  session(tenant: string, id: string): Promise<Session | undefined>;
}

type Reply = [string, string?, string?];

/** Whole seconds, at least one: a Retry-After of 0 invites a busy loop. */
const retryAfter = (ms: number) => (Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 1);
type Scripted = Redis & Record<SessionScriptName, (...a: (string | number)[]) => Promise<Reply>>;

/** A record whose archive is pending: a session (its tenant and id), or an invocation with its session's workspace. */
export type ArchiveRecordRef = ({ kind: 'session' } & SessionRef) | { kind: 'invocation'; id: string; workspace_id: string };

const memberOf = (r: ArchiveRecordRef) => (r.kind === 'session' ? `s ${sessionMember(r)}` : `i ${r.id} ${r.workspace_id}`);
const refOf = (m: string): ArchiveRecordRef | undefined => {
  const [kind, a, b, extra] = m.split(' ');
  if (extra !== undefined || !a || !b) return undefined;
  if (kind === 's') return { kind: 'session', tenant: a, id: b };
  if (kind === 'i') return { kind: 'invocation', id: a, workspace_id: b };
  return undefined;
};

export interface SessionLimits {
  /** Invocations a session may start per minute; 0: no limit. */
  ratePerMinute: number;
  /** Invocations of a session running at once; 0: no limit. */
  maxConcurrency: number;
  /** Open sessions a tenant may hold; 0 or Infinity: no limit. */
  maxOpenSessions(tenant: string): number;
}

/**
 * Sessions and their invocations in Redis; every change is one script of session-scripts.ts.
 * `recordTtlS`: how long closed sessions and invocations stay readable in Redis (the seed's
 * 24 h); their workspace archives answer after that.
 */
export function createSessionStore(opts: { redis: Redis; prefix: string; recordTtlS?: number; limits?: SessionLimits; now?: () => number }): SessionStore {
  const k = sessionKeys(opts.prefix);
  const now = opts.now ?? Date.now;
  const ttl = opts.recordTtlS ?? 86_400;
  const limits = opts.limits;
  const finite = (n: number) => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);
  const redis = opts.redis as Scripted;
  if (!('ayCreateSession' in opts.redis)) {
    for (const [name, s] of Object.entries(SESSION_SCRIPTS)) redis.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
  }

  const session = async (tenant: string, id: string): Promise<Session | undefined> => {
    const h = await redis.hgetall(k.session(tenant, id));
    // The key is the tenant's own; the record's tenant is compared anyway, as every read does.
    if (!h.tenant || h.tenant !== tenant) return undefined;
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
    const s = await session(tenant, id);
    if (!s) throw new NotFoundError('session', id);
    return s;
  };
  const recordKey = (r: ArchiveRecordRef) => (r.kind === 'session' ? k.session(r.tenant, r.id) : k.invocation(r.id));
  const invocation = async (id: string): Promise<Invocation | undefined> => {
    const h = await redis.hgetall(k.invocation(id));
    if (!h.tenant) return undefined;
    const r = h.result ? (JSON.parse(h.result) as InvocationResult) : undefined;
    const doc = JSON.parse(h.doc!) as { tool_name: string; args: unknown; correlation_id?: string };
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
      const max = finite(limits?.maxOpenSessions(tenant) ?? 0);
      const [code, , waitMs] = await redis.ayCreateSession(
        k.session(tenant, id), k.sessionsExpiring, k.tenantOpenSessions(tenant),
        id, tenant, JSON.stringify(doc), new Date(ms).toISOString(), expires, new Date(expires).toISOString(), lifetimeS + ttl, ms, max,
        sessionMember({ tenant, id }),
      );
      if (code === SESSION_CODES.exists) throw new SessionExistsError(id);
      if (code === SESSION_CODES.limited) throw new OpenSessionsLimitError(max, retryAfter(Number(waitMs)));
      return (await session(tenant, id))!;
    },
    async close(tenant, id) {
      const [code, status] = await redis.ayCloseSession(
        k.session(tenant, id), k.sessionsExpiring, k.tenantOpenSessions(tenant), id, tenant, new Date(now()).toISOString(), ttl,
        sessionMember({ tenant, id }),
      );
      if (code === SESSION_CODES.missing) throw new NotFoundError('session', id);
      if (code === SESSION_CODES.invalid) throw new InvalidStateError(`session ${id} is ${status} already`);
      return get(tenant, id);
    },
    async due(limit) {
      const members = await redis.zrangebyscore(k.sessionsExpiring, 0, now(), 'LIMIT', 0, limit);
      // A member that names no tenant (written before sessions were tenant-scoped) would head
      // the list forever: it is dropped; its session's keys end with their TTL.
      const junk = members.filter((m) => !sessionRefOf(m));
      if (junk.length > 0) await redis.zrem(k.sessionsExpiring, ...junk);
      return members.flatMap((m) => sessionRefOf(m) ?? []);
    },
    async expire(ref) {
      const ms = now();
      const [code] = await redis.ayExpireSession(
        k.session(ref.tenant, ref.id), k.sessionsExpiring, k.tenantOpenSessions(ref.tenant),
        ref.id, ms, new Date(ms).toISOString(), ttl, sessionMember(ref),
      );
      return code === SESSION_CODES.ok;
    },
    async reserve(tenant, sessionId, inv) {
      const ms = now();
      const corr = inv.correlation_id;
      const doc = JSON.stringify({ tool_name: inv.tool_name, args: inv.args, ...(corr !== undefined ? { correlation_id: corr } : {}) });
      const [code, detail, waitMs] = (await redis.ayReserveInvocation(
        k.session(tenant, sessionId), corr !== undefined ? k.correlation(tenant, sessionId, corr) : k.invocation(inv.id), k.invocation(inv.id),
        k.sessionRunning(tenant, sessionId), k.sessionRate(tenant, sessionId), k.invocationsRunning,
        inv.id, tenant, doc, new Date(ms).toISOString(), ms, ttl, corr !== undefined ? '1' : '0',
        finite(limits?.ratePerMinute ?? 0), finite(limits?.maxConcurrency ?? 0), sessionId,
      )) as [string, string?, string?];
      if (code === SESSION_CODES.missing) throw new NotFoundError('session', sessionId);
      if (code === SESSION_CODES.invalid) throw new InvalidStateError(`session ${sessionId} is ${detail}; open a new session`);
      if (code === SESSION_CODES.exists) return { invocationId: detail!, reserved: false };
      // Concurrency frees up when one finishes: a second is a fair first guess.
      if (code === SESSION_CODES.limited) return { limited: detail as SessionLimit, retryAfterS: retryAfter(Number(waitMs)) };
      return { invocationId: inv.id, reserved: true };
    },
    async deny(tenant, sessionId, inv, error) {
      const at = new Date(now()).toISOString();
      const result: InvocationResult = { logs: [], artifacts: [], duration_ms: 0, error };
      const doc = JSON.stringify({ tool_name: inv.tool_name, args: inv.args, ...(inv.correlation_id !== undefined ? { correlation_id: inv.correlation_id } : {}) });
      const [code] = await redis.ayRecordDenied(k.invocation(inv.id), tenant, sessionId, doc, at, JSON.stringify(result), ttl);
      if (code !== SESSION_CODES.ok) throw new InvalidStateError(`invocation ${inv.id} exists already`);
      return (await invocation(inv.id))!;
    },
    async archivePending(r) {
      const [code] = await redis.ayArchivePending(k.sessionArchivePending, recordKey(r), memberOf(r), now());
      return code === SESSION_CODES.ok;
    },
    async pendingArchives(limit) {
      const members = await redis.zrange(k.sessionArchivePending, 0, limit - 1);
      // As in due(): a member of an older shape would be retried first forever.
      const junk = members.filter((m) => !refOf(m));
      if (junk.length > 0) await redis.zrem(k.sessionArchivePending, ...junk);
      return members.flatMap((m) => refOf(m) ?? []);
    },
    async archiveDone(r) {
      let keep = ttl;
      if (r.kind === 'session') {
        // An open session keeps its lifetime too, as at create.
        const at = Number(await redis.hget(k.session(r.tenant, r.id), 'expires_at_ms'));
        if (Number.isFinite(at) && at > now()) keep += Math.ceil((at - now()) / 1000);
      }
      await redis.ayArchiveDone(k.sessionArchivePending, recordKey(r), memberOf(r), keep);
    },
    runningSince: (beforeMs, limit) => redis.zrangebyscore(k.invocationsRunning, 0, beforeMs, 'LIMIT', 0, limit),
    async forgetRunning(id) {
      await redis.zrem(k.invocationsRunning, id);
    },
    async begin(id) {
      const [code] = await redis.ayBeginInvocation(k.invocation(id), new Date(now()).toISOString());
      return code === SESSION_CODES.ok ? 'ok' : code === SESSION_CODES.started ? 'started' : 'gone';
    },
    async finish(id, status, result) {
      // Its tenant, session and correlation id name the keys the finish frees.
      const [tenant, sid, doc] = await redis.hmget(k.invocation(id), 'tenant', 'session_id', 'doc');
      const corr = doc ? (JSON.parse(doc) as { correlation_id?: string }).correlation_id : undefined;
      // No tenant: the record is gone, the script answers missing and only leaves the work
      // list; the absent record's own key stands in for the keys it would have freed.
      const owned = tenant && sid ? { tenant, sid } : undefined;
      const [code] = await redis.ayFinishInvocation(
        k.invocation(id), owned ? k.sessionRunning(owned.tenant, owned.sid) : k.invocation(id), k.invocationsRunning,
        corr !== undefined && owned ? k.correlation(owned.tenant, owned.sid, corr) : k.invocation(id),
        status, JSON.stringify(result), new Date(now()).toISOString(), ttl, id, corr !== undefined ? '1' : '0',
      );
      return code === SESSION_CODES.ok;
    },
    async invocationForTenant(tenant, id) {
      const inv = await invocation(id);
      if (!inv || inv.tenant !== tenant) throw new NotFoundError('invocation', id);
      return inv;
    },
  };
}
