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
    /** Hash: tenant, session_id, status, doc (JSON), started_at, completed_at, result (JSON). */
    invocation: (invocationId: string) => `${prefix}inv:${invocationId}`,
    /** Open session ids scored by when they expire: the sweeper's work list. */
    sessionsExpiring: `${prefix}sessions:expiring`,
  };
}
export type SessionKeys = ReturnType<typeof sessionKeys>;
