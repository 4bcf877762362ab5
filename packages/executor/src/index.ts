export * from './executor';
export * from './exec-errors';
export * from './workspace-sync';
export * from './output-capture';
export * from './executor-config-error';
export { LocalProcessExecutor } from './local-process-executor';
export { createLocalProcessExecutor, type LocalProcessExecutorOptions } from './create-local-process-executor';
// The Kubernetes executor loads @kubernetes/client-node and the AWS presigner (about half a
// second at start-up): only a worker with EXECUTOR=k8s loads it, through this.
export const loadK8sExecutor = () => import('./create-k8s-executor.js');
export type { K8sExecutorSettings } from './create-k8s-executor';
export type { K8sJobExecutor, K8sJobExecutorOptions } from './k8s-job-executor';
export type { KubeJobsApi } from './k8s-api';
export type { ObjectStore, S3ObjectStoreOptions } from './object-store';
export { K8S_API_CALLS } from './k8s-api-calls';
export { buildJobSpec, SANDBOX_UID, type JobSpecInput, type JobSpecSettings } from './job-spec';
export { jobName, jobLabels, labelValue } from './k8s-names';
