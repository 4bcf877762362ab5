import { AgentyardError, type ErrorData } from '@agentyard/core';

/** The records of sessions and their invocations, as the store returns them. */
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

/** A file the tool wrote, as GET /v1/invocations/:id/artifacts lists it. */
export interface InvocationArtifact {
  path: string;
  size: number;
  sha256: string;
  content_type: string;
}

export interface InvocationResult {
  output?: unknown;
  logs: { ts: string; level: string; message: string; stream?: string }[];
  artifacts: InvocationArtifact[];
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
  artifacts: InvocationArtifact[];
  error: ErrorData | null;
}

/** Which session limit refused: SESSION_RATE_LIMIT_PER_MINUTE or SESSION_MAX_CONCURRENCY. */
export type SessionLimit = 'rate' | 'concurrency';

/** What the API needs to reserve or deny an invocation. */
export interface InvocationDraft {
  id: string;
  tool_name: string;
  args: unknown;
  correlation_id?: string;
}

export class SessionExistsError extends AgentyardError {
  constructor(sessionId: string) {
    super('session_exists', `session ${sessionId} already exists; choose another session_id or omit it`, { status: 409 });
  }
}

/** The tenant holds max_open_sessions open sessions already; one must close or expire first. */
export class OpenSessionsLimitError extends AgentyardError {
  constructor(max: number, retryAfterS: number) {
    const message = `this tenant has ${max} open sessions, its max_open_sessions; close one (DELETE /v1/sessions/:id) or wait for one to expire`;
    super('rate_limited', message, { status: 429, retryable: true, retryAfterS, details: [{ path: 'max_open_sessions', message }] });
  }
}

