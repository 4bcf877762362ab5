/**
 * Every key the session store touches, under the configured prefix (the same prefix as the
 * run engine's keys, so one deployment's test or tenant cleanup covers both).
 */
export function sessionKeys(prefix: string) {
  return {
    /** Hash: tenant, status, doc (JSON), created_at, expires_at (ms), closed_at. */
    session: (sessionId: string) => `${prefix}session:${sessionId}`,
    /** A session's correlation id -> the invocation it reserved (one per session and id). */
    correlation: (sessionId: string, correlationId: string) => `${prefix}session:${sessionId}:corr:${correlationId}`,
    /** Set: the session's invocations reserved and not finished (SESSION_MAX_CONCURRENCY). */
    sessionRunning: (sessionId: string) => `${prefix}session:${sessionId}:running`,
    /** Counter of the session's invocations in the current one-minute window (SESSION_RATE_LIMIT_PER_MINUTE). */
    sessionRate: (sessionId: string) => `${prefix}session:${sessionId}:rate`,
    /** Hash: tenant, session_id, status, doc (JSON), started_at, completed_at, result (JSON). */
    invocation: (invocationId: string) => `${prefix}inv:${invocationId}`,
    /** Open session ids scored by when they expire: the sweeper's work list. */
    sessionsExpiring: `${prefix}sessions:expiring`,
    /** A tenant's open session ids scored by when they expire (max_open_sessions). */
    tenantOpenSessions: (tenant: string) => `${prefix}sessions:open:${tenant}`,
    /** `s <session id>` and `i <invocation id> <workspace id>` whose archive write failed, by when: retried by the workers. */
    sessionArchivePending: `${prefix}sessions:archive-pending`,
    /** Running invocation ids scored by when they were reserved: the reconciler's work list. */
    invocationsRunning: `${prefix}invocations:running`,
  };
}
export type SessionKeys = ReturnType<typeof sessionKeys>;
