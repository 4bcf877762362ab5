import type { ErrorData } from '@agentyard/core';

/** How one attempt of a run ended, as the worker saw it. */
export type AttemptEnd =
  | { type: 'completed'; result: unknown }
  /** Someone re-enqueued the run meanwhile: this attempt's outcome must not be recorded. */
  | { type: 'stale' }
  | { type: 'cancelled' }
  | { type: 'approval'; request: { step_id: string; tool: string; args: unknown } }
  /** The worker is draining. */
  | { type: 'shutdown' }
  /** A dependency asked the run to come back later (open breaker, budget window). */
  | { type: 'deferred'; delayMs: number; message: string }
  | { type: 'error'; error: ErrorData };

/** What the run engine does about it. */
export type AttemptDecision =
  | { kind: 'succeed'; result: unknown }
  | { kind: 'ignore' }
  /** The run is already cancelled; only its end remains. */
  | { kind: 'finalize' }
  | { kind: 'await_approval'; request: { step_id: string; tool: string; args: unknown } }
  /** Back to the queue without spending an attempt, after `delayMs`. */
  | { kind: 'hand_back'; delayMs: number; level: 'info' | 'warn'; message: string }
  /** Retryable, attempts left: BullMQ retries after backoff. */
  | { kind: 'retry'; error: ErrorData }
  | { kind: 'dead_letter'; error: ErrorData };

/** How soon a run whose store did not answer is tried again (UnavailableError's Retry-After). */
export const UNAVAILABLE_RETRY_MS = 5000;

/**
 * The retry / dead-letter decision, apart from any I/O. `attemptsMade` counts the job's
 * earlier failed attempts (BullMQ's attemptsMade); `maxAttempts` is options.max_attempts.
 * A retryable error with attempts left retries; a permanent one, or the last attempt,
 * dead-letters, saying how many attempts were made when that is why.
 */
export function decideAttempt(end: AttemptEnd, o: { attemptsMade: number; maxAttempts: number }): AttemptDecision {
  switch (end.type) {
    case 'completed':
      return { kind: 'succeed', result: end.result };
    case 'stale':
      return { kind: 'ignore' };
    case 'cancelled':
      return { kind: 'finalize' };
    case 'approval':
      return { kind: 'await_approval', request: end.request };
    case 'shutdown':
      return { kind: 'hand_back', delayMs: 0, level: 'warn', message: 'worker shutting down; run handed back to the queue' };
    case 'deferred':
      return { kind: 'hand_back', delayMs: Math.max(0, end.delayMs), level: 'warn', message: end.message };
    case 'error': {
      // The workspace store not answering is the platform's outage, not the run's failure:
      // spending attempts on it dead-lettered every file-touching run of a 20 s S3 outage
      // (chaos drill c). Handed back instead, it retries until the store answers or the
      // run's own timeout_s ends it (run_timeout is permanent), whichever comes first.
      if (end.error.code === 'unavailable') {
        return { kind: 'hand_back', delayMs: UNAVAILABLE_RETRY_MS, level: 'warn', message: `${end.error.message}; retrying in ${UNAVAILABLE_RETRY_MS / 1000} s without spending an attempt` };
      }
      const last = o.attemptsMade + 1 >= o.maxAttempts;
      if (end.error.retryable && !last) return { kind: 'retry', error: end.error };
      if (!end.error.retryable) return { kind: 'dead_letter', error: end.error };
      return { kind: 'dead_letter', error: { ...end.error, message: `${end.error.message} (after ${o.maxAttempts} attempts)` } };
    }
  }
}
