import type { Config } from '@agentyard/config';
import { createLocalProcessExecutor, loadK8sExecutor, type ExecLimits, type Executor } from '@agentyard/executor';
import type { Logger } from '@agentyard/observability';

export type ExecutorConfig = Pick<
  Config,
  | 'EXECUTOR'
  | 'EXECUTOR_UNSANDBOXED'
  | 'EXECUTOR_OUTPUT_BYTES'
  | 'EXECUTOR_LOG_LINES'
  | 'EXECUTOR_WORKSPACE_MAX_MB'
  | 'EXECUTOR_WORKSPACE_MAX_FILES'
  | 'EXECUTOR_MEMORY_MB'
  | 'EXECUTOR_FILE_MAX_MB'
  | 'EXECUTOR_MAX_PROCESSES'
  | 'EXECUTOR_CPU_MILLI'
  | 'EXECUTOR_NAMESPACE'
  | 'EXECUTOR_IMAGE_PYTHON'
  | 'EXECUTOR_IMAGE_NODE'
  | 'EXECUTOR_IMAGE_SHELL'
  | 'EXECUTOR_IMAGE_TRANSFER'
  | 'EXECUTOR_JOB_TTL_S'
  | 'KUBECONFIG'
  | 'S3_ENDPOINT'
  | 'S3_REGION'
  | 'S3_BUCKET'
  | 'S3_ACCESS_KEY'
  | 'S3_SECRET_KEY'
  | 'S3_FORCE_PATH_STYLE'
>;

const MB = 1024 * 1024;

/** The limits every executor enforces, resolved once from the configuration. */
export function execLimits(config: ExecutorConfig): ExecLimits {
  return {
    outputBytes: config.EXECUTOR_OUTPUT_BYTES,
    workspaceBytes: config.EXECUTOR_WORKSPACE_MAX_MB * MB,
    workspaceFiles: config.EXECUTOR_WORKSPACE_MAX_FILES,
    memoryBytes: config.EXECUTOR_MEMORY_MB * MB,
    fileBytes: config.EXECUTOR_FILE_MAX_MB * MB,
    processes: config.EXECUTOR_MAX_PROCESSES,
  };
}

/**
 * The sandbox for shell.exec and code.run that EXECUTOR asks for, checked at start-up: a
 * worker that could only fail its commands refuses to start instead (bubblewrap missing,
 * no access to the Kubernetes API), with a message saying what to fix.
 */
export async function createExecutorFromConfig(config: ExecutorConfig, opts: { logger: Logger }): Promise<Executor | undefined> {
  switch (config.EXECUTOR) {
    case 'none':
      return undefined;
    case 'local':
      return createLocalProcessExecutor({
        limits: execLimits(config),
        unsandboxed: config.EXECUTOR_UNSANDBOXED,
        warn: (message) => opts.logger.warn(message),
      });
    case 'k8s': {
      // The config check already refused EXECUTOR=k8s without the S3 workspace it moves files through.
      const { createK8sJobExecutor } = await loadK8sExecutor();
      return createK8sJobExecutor(config, execLimits(config));
    }
  }
}
