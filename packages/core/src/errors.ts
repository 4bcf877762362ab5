/**
 * The error hierarchy of Agentyard. Every error that crosses a boundary carries the
 * contract's snake_case `code`, the HTTP `status` the API answers with, and whether the
 * worker should retry (`retryable`). Only the API's error middleware turns these into
 * HTTP and only the worker's processor turns non-retryable ones into BullMQ's
 * UnrecoverableError; everything else just throws them.
 */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** What a stored or streamed error looks like: plain data, safe to serialise. */
export interface ErrorData {
  code: string;
  message: string;
  retryable: boolean;
}

export class AgentyardError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: ErrorDetail[];
  /** Seconds a client should wait, sent as `Retry-After` for 429/503. */
  readonly retryAfterS?: number;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; retryable?: boolean; details?: ErrorDetail[]; retryAfterS?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details ?? [];
    if (opts.retryAfterS !== undefined) this.retryAfterS = opts.retryAfterS;
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

export class ValidationError extends AgentyardError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super('invalid_request', message, { status: 400, details });
  }
  /** A single bad field, named by its path (`steps[0].args.path`). */
  static field(path: string, message: string): ValidationError {
    return new ValidationError(`${path}: ${message}`, [{ path, message }]);
  }
}

export class UnauthorizedError extends AgentyardError {
  constructor(message = 'A valid bearer token is required') {
    super('unauthorized', message, { status: 401 });
  }
}

export class ForbiddenError extends AgentyardError {
  constructor(message = 'This token may not use this route') {
    super('forbidden', message, { status: 403 });
  }
}

export class NotFoundError extends AgentyardError {
  constructor(what: string, id?: string) {
    super('not_found', id === undefined ? `${what} not found` : `${what} ${id} not found`, { status: 404 });
  }
}

export class InvalidStateError extends AgentyardError {
  constructor(message: string) {
    super('invalid_state', message, { status: 409 });
  }
}

export class PayloadTooLargeError extends AgentyardError {
  constructor(message: string) {
    super('payload_too_large', message, { status: 413 });
  }
}

export class UnprocessableError extends AgentyardError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super('unprocessable', message, { status: 422, details });
  }
}

export class UnavailableError extends AgentyardError {
  constructor(message: string, cause?: unknown) {
    super('unavailable', message, { status: 503, retryable: true, retryAfterS: 5, cause });
  }
}

/** A tenant sent more requests than its rate allows; it may try again after `retryAfterS`. */
export class RateLimitedError extends AgentyardError {
  constructor(message: string, retryAfterS: number) {
    super('rate_limited', message, { status: 429, retryable: true, retryAfterS });
  }
}

/**
 * Backpressure: the queue (QUEUE_MAX_WAITING) or the tenant (max_queued_runs) holds as many
 * queued runs as allowed. Nothing was created or queued; try again after `retryAfterS`.
 * `limit` names the setting that refused, so a client (or its operator) knows which one to raise.
 */
export class QueueFullError extends AgentyardError {
  constructor(limit: 'QUEUE_MAX_WAITING' | 'max_queued_runs', message: string, retryAfterS: number) {
    super('queue_full', message, { status: 429, retryable: true, retryAfterS, details: [{ path: limit, message }] });
  }
}

/**
 * A tenant holds as much of something as its policy allows (TENANTS_FILE): open SSE streams
 * (`max_sse_streams`), workspace files (`max_workspace_files`). `cap` names the setting, in
 * `details[0].path`, so the client (or its operator) knows what to close, delete or raise.
 */
export class CapReachedError extends AgentyardError {
  /** `retryable` false: waiting alone frees nothing (files stay until deleted); a run step fails for good. */
  constructor(cap: string, message: string, retryAfterS: number, retryable = true) {
    super('cap_reached', message, { status: 429, retryable, retryAfterS, details: [{ path: cap, message }] });
  }
}

/** A workspace write would take the tenant past `max_workspace_bytes`: 413, naming the cap. */
export class WorkspaceFullError extends AgentyardError {
  constructor(message: string) {
    super('payload_too_large', message, { status: 413, retryable: false, details: [{ path: 'max_workspace_bytes', message }] });
  }
}

/** A run or tenant budget (tokens, steps) is used up; retrying now cannot help. */
export class BudgetExceededError extends AgentyardError {
  constructor(message: string, retryAfterS?: number) {
    super('budget_exceeded', message, { status: 429, retryable: false, ...(retryAfterS === undefined ? {} : { retryAfterS }) });
  }
}

/**
 * A tool or step failed. `retryable` decides whether the run goes back to the queue with
 * backoff or is dead-lettered at once.
 */
export class ToolError extends AgentyardError {
  constructor(code: string, message: string, retryable: boolean, cause?: unknown) {
    super(code, message, { status: 500, retryable, cause });
  }
}

export class StepTimeoutError extends AgentyardError {
  constructor(what: string, seconds: number) {
    super('timeout', `${what} exceeded its timeout of ${seconds}s`, { status: 500, retryable: true });
  }
}

/** The whole run ran past `options.timeout_s`: retrying cannot help. */
export class RunTimeoutError extends AgentyardError {
  constructor(seconds: number) {
    super('run_timeout', `run exceeded its timeout of ${seconds}s`, { status: 500, retryable: false });
  }
}

export class CancelledError extends AgentyardError {
  constructor(message = 'run was cancelled') {
    super('cancelled', message, { status: 409, retryable: false });
  }
}

/** Turn anything thrown into stored error data; unknown errors count as retryable. */
export function toErrorData(err: unknown): ErrorData {
  if (err instanceof AgentyardError) return err.toData();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message, retryable: true };
}
