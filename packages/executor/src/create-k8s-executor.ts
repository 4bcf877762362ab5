import { createKubeJobsApi, loadKubeConfig } from './k8s-api';
import { K8sJobExecutor, type K8sJobExecutorOptions } from './k8s-job-executor';
import { createS3ObjectStore } from './object-store';
import { s3Settings } from '@agentyard/workspace';
import type { ExecLimits } from './executor';

/** The EXECUTOR_* / S3_* / KUBECONFIG slice of the validated configuration the k8s executor reads. */
export interface K8sExecutorSettings {
  EXECUTOR_NAMESPACE: string;
  EXECUTOR_IMAGE_PYTHON: string;
  EXECUTOR_IMAGE_NODE: string;
  EXECUTOR_IMAGE_SHELL: string;
  EXECUTOR_IMAGE_TRANSFER: string;
  EXECUTOR_CPU_MILLI: number;
  EXECUTOR_JOB_TTL_S: number;
  KUBECONFIG?: string | undefined;
  S3_ENDPOINT?: string | undefined;
  S3_REGION: string;
  S3_BUCKET?: string | undefined;
  S3_ACCESS_KEY?: string | undefined;
  S3_SECRET_KEY?: string | undefined;
  S3_FORCE_PATH_STYLE: boolean;
}

/**
 * The composition root's way to build a K8sJobExecutor from the configuration (the config
 * check guarantees the S3 settings when EXECUTOR=k8s). `overrides` is for tests and benches.
 */
export function createK8sJobExecutor(
  s: K8sExecutorSettings,
  limits: Partial<ExecLimits>,
  overrides: Partial<Omit<K8sJobExecutorOptions, 'limits'>> = {},
): K8sJobExecutor {
  return new K8sJobExecutor({
    api: overrides.api ?? createKubeJobsApi(loadKubeConfig(s.KUBECONFIG)),
    store:
      overrides.store ??
      createS3ObjectStore(s3Settings(s)),
    spec: overrides.spec ?? {
      namespace: s.EXECUTOR_NAMESPACE,
      images: {
        python: s.EXECUTOR_IMAGE_PYTHON,
        node: s.EXECUTOR_IMAGE_NODE,
        bash: s.EXECUTOR_IMAGE_SHELL,
        shell: s.EXECUTOR_IMAGE_SHELL,
        transfer: s.EXECUTOR_IMAGE_TRANSFER,
      },
      cpuMilli: s.EXECUTOR_CPU_MILLI,
      jobTtlS: s.EXECUTOR_JOB_TTL_S,
      startAllowanceS: 300,
    },
    limits,
    ...overrides,
  });
}
