import { AgentyardError } from '@agentyard/core';

/**
 * The executor cannot be built as configured (bubblewrap missing, user namespaces disabled).
 * Thrown by a factory at start-up, so the worker exits with the message instead of taking
 * runs it cannot execute. Not retryable: the host needs changing, not the run.
 */
export class ExecutorConfigError extends AgentyardError {
  constructor(message: string, cause?: unknown) {
    super('executor_misconfigured', message, { status: 500, retryable: false, cause });
  }
}
