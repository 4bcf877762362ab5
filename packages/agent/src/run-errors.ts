import { AgentyardError } from '@agentyard/core';

/** The run was re-enqueued (retried, replayed) after this worker took it: stop quietly. */
export class StaleRunError extends AgentyardError {
  constructor(runId: string) {
    super('stale_run', `run ${runId} was re-enqueued by someone else; this attempt stops`, { retryable: false });
  }
}

/** The worker is draining; the run goes back to the queue without spending an attempt. */
export class ShutdownError extends AgentyardError {
  constructor() {
    super('worker_shutdown', 'the worker is shutting down; the run will resume on another worker', { retryable: true });
  }
}

/** A sibling step failed, so this one was stopped to fail the attempt quickly. */
export class SiblingFailedError extends AgentyardError {
  constructor(stepId: string) {
    super('sibling_failed', `stopped because step ${stepId} failed`, { retryable: true });
  }
}

/**
 * A step needs a person's decision: the run parks in awaiting_approval, freeing its worker.
 * The `approval` request event is emitted by the run engine together with the status change,
 * so whoever sees it can decide at once.
 */
export class AwaitingApprovalError extends AgentyardError {
  readonly stepId: string;
  constructor(readonly request: { step_id: string; tool: string; args: unknown }) {
    super('awaiting_approval', `step ${request.step_id} is waiting for approval`, { retryable: false });
    this.stepId = request.step_id;
  }
}

/**
 * Not a failure of the run: something it depends on asked it to come back later (an open
 * circuit breaker, a tenant at its concurrency limit). The run goes back to the queue,
 * delayed, without spending an attempt.
 */
export class DeferredError extends AgentyardError {
  constructor(message: string, readonly delayMs: number) {
    super('deferred', message, { retryable: true, retryAfterS: Math.ceil(delayMs / 1000) });
  }
}
