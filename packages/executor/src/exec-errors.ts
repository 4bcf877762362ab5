import { AgentyardError } from '@agentyard/core';

/**
 * Why a command did not come to an exit code. Each carries its retry decision:
 * - exec_timeout: the command ran past its timeout_s. Not retryable: the same command on the
 *   same files would run as long again; the model or client sees the error and decides.
 * - exec_oom: killed for using more memory than allowed. Not retryable, same reason.
 * - exec_limit: the workspace is larger than the executor copies. Not retryable.
 * - executor_unavailable: the sandbox could not run it (the Kubernetes API failed, an image
 *   could not be pulled, the pod was evicted, a local spawn failed). Retryable: the run backs
 *   off and tries again.
 */
export class ExecError extends AgentyardError {
  constructor(code: 'exec_timeout' | 'exec_oom' | 'exec_limit' | 'executor_unavailable', message: string, retryable: boolean, cause?: unknown) {
    super(code, message, { status: 500, retryable, cause });
  }
  static timeout(seconds: number): ExecError {
    return new ExecError('exec_timeout', `the command ran past its timeout of ${seconds}s and was killed`, false);
  }
  static oom(limitBytes: number): ExecError {
    return new ExecError('exec_oom', `the command was killed for using more than ${Math.round(limitBytes / 1024 / 1024)} MiB of memory`, false);
  }
  static limit(message: string): ExecError {
    return new ExecError('exec_limit', message, false);
  }
  static unavailable(message: string, cause?: unknown): ExecError {
    return new ExecError('executor_unavailable', message, true, cause);
  }
}
