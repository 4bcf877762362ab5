/**
 * Every key the session store touches, under the configured prefix (the same prefix as the
 * run engine's keys, so one deployment's test or tenant cleanup covers both).
 *
 * A session is named by its tenant and its id together: two tenants may each hold
 * `session-foo`, and nothing a tenant does with its own ids (create, reuse, close) can touch
 * or reveal another's. Tenant ids (`[a-z0-9_-]`) and session ids (`session-[A-Za-z0-9_-]`)
 * hold neither `:` nor a space, so keys and `<tenant> <session id>` members never collide.
 * Invocation ids are server-chosen and random, so they stay global; their records carry the
 * tenant and its session id, and every read compares the tenant.
 */
export function sessionKeys(prefix: string) {
  return {
    /** Hash: tenant, status, doc (JSON), created_at, expires_at (ms), closed_at. */
    session: (tenant: string, sessionId: string) => `${prefix}session:${tenant}:${sessionId}`,
    /** A session's correlation id -> the invocation it reserved (one per session and id). */
    correlation: (tenant: string, sessionId: string, correlationId: string) => `${prefix}session:${tenant}:${sessionId}:corr:${correlationId}`,
    /** Set: the session's invocations reserved and not finished (SESSION_MAX_CONCURRENCY). */
    sessionRunning: (tenant: string, sessionId: string) => `${prefix}session:${tenant}:${sessionId}:running`,
    /** Counter of the session's invocations in the current one-minute window (SESSION_RATE_LIMIT_PER_MINUTE). */
    sessionRate: (tenant: string, sessionId: string) => `${prefix}session:${tenant}:${sessionId}:rate`,
    /** Hash: tenant, session_id, status, doc (JSON), started_at, completed_at, result (JSON). */
    invocation: (invocationId: string) => `${prefix}inv:${invocationId}`,
    /** `<tenant> <session id>` of open sessions scored by when they expire: the sweeper's work list. */
    sessionsExpiring: `${prefix}sessions:expiring`,
    /** A tenant's open session ids scored by when they expire (max_open_sessions). */
    tenantOpenSessions: (tenant: string) => `${prefix}sessions:open:${tenant}`,
    /** `s <tenant> <session id>` and `i <invocation id> <workspace id>` whose archive write failed, by when: retried by the workers. */
    sessionArchivePending: `${prefix}sessions:archive-pending`,
    /** Running invocation ids scored by when they were reserved: the reconciler's work list. */
    invocationsRunning: `${prefix}invocations:running`,
  };
}
export type SessionKeys = ReturnType<typeof sessionKeys>;

/** A session as the sweeper's work list names it: the tenant and the id together. */
export interface SessionRef {
  tenant: string;
  id: string;
}
export const sessionMember = (r: SessionRef) => `${r.tenant} ${r.id}`;
export const sessionRefOf = (member: string): SessionRef | undefined => {
  const [tenant, id, extra] = member.split(' ');
  return tenant && id && extra === undefined ? { tenant, id } : undefined;
};
