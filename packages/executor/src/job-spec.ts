import type { V1Container, V1Job, V1SecurityContext } from '@kubernetes/client-node';
import type { Language } from './executor';
import { jobAnnotations, jobLabels } from './k8s-names';
import { BOX, FETCH_SCRIPT, RUN_SCRIPT, UPLOAD_SCRIPT } from './pod-scripts';

/**
 * The V1Job of one command, built without I/O (k8s-job-executor.ts submits it). One pod, never
 * restarted, never retried by Kubernetes (the run decides about retries), running as a fixed
 * non-root uid on a read-only root filesystem with every capability dropped, no service account
 * token and no service links. Its only writable places are two emptyDirs: BOX (the workspace and
 * the transfer files, see pod-scripts.ts) and /tmp (also HOME).
 *
 * Containers, in order: `fetch` (init: presigned GET of the workspace tarball), `run` (the
 * command, in the language image) and `upload` (waits for `run` to finish, presigned PUT of the
 * result). `upload` is a plain second container rather than a native sidecar: a sidecar is
 * stopped when the main container ends, so its upload would race the termination grace
 * period; a container that waits for BOX/.done runs to completion on any Kubernetes version.
 */

/** Uid and gid of every container: "nonroot" of distroless images, absent from most /etc/passwd. */
export const SANDBOX_UID = 65532;

export const CONTAINERS = { fetch: 'fetch', run: 'run', upload: 'upload' } as const;

export interface JobSpecSettings {
  namespace: string;
  images: Record<Language | 'shell', string> & { transfer: string };
  /** CPU of the command's container, request and limit. */
  cpuMilli: number;
  /** Memory of the command's container, request and limit. */
  memoryBytes: number;
  /** Size of BOX (and the pod's ephemeral storage): the workspace twice (tarball and files) and the output. */
  boxBytes: number;
  /** Kubernetes deletes a finished Job this long after it ends. */
  jobTtlS: number;
  /**
   * Added to the command's timeout for the Job's activeDeadlineSeconds: image pulls, transfers
   * and scheduling. The executor enforces the command's own timeout; this deadline is the
   * backstop when no worker is watching.
   */
  startAllowanceS: number;
}

export interface JobSpecInput {
  name: string;
  runId: string;
  stepId: string;
  attempt: number;
  tenant: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutS: number;
  language?: Language;
  inputUrl: string;
  outputUrl: string;
}

/** Resources of the two transfer containers: curl and tar need little. */
const TRANSFER_RESOURCES = { cpu: '100m', memory: '64Mi' };

const LOCKED_DOWN: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: SANDBOX_UID,
  runAsGroup: SANDBOX_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export function imageFor(settings: JobSpecSettings, language: Language | undefined): string {
  return settings.images[language ?? 'shell'];
}

export function buildJobSpec(input: JobSpecInput, settings: JobSpecSettings): V1Job {
  const ids = { runId: input.runId, stepId: input.stepId, attempt: input.attempt, tenant: input.tenant };
  const labels = jobLabels(ids);
  const box = { name: 'box', mountPath: BOX };
  const tmp = { name: 'tmp', mountPath: '/tmp' };
  const mib = (bytes: number) => `${Math.ceil(bytes / 1024 / 1024)}Mi`;
  const transferResources = {
    requests: { ...TRANSFER_RESOURCES, 'ephemeral-storage': '16Mi' },
    limits: { ...TRANSFER_RESOURCES, 'ephemeral-storage': '16Mi' },
  };
  const transfer = (name: string, script: string, urlVar: string, url: string): V1Container => ({
    name,
    image: settings.images.transfer,
    command: ['/bin/sh', '-c', script],
    env: [
      { name: urlVar, value: url },
      { name: 'HOME', value: '/tmp' },
    ],
    volumeMounts: [box, tmp],
    resources: transferResources,
    securityContext: LOCKED_DOWN,
  });
  const runResources = {
    cpu: `${settings.cpuMilli}m`,
    memory: mib(settings.memoryBytes),
    'ephemeral-storage': mib(settings.boxBytes),
  };
  const env = { ...input.env, HOME: '/tmp', LANG: input.env.LANG ?? 'C.UTF-8' };
  const run: V1Container = {
    name: CONTAINERS.run,
    image: imageFor(settings, input.language),
    command: ['/bin/sh', '-c', RUN_SCRIPT, 'agentyard', input.cwd, ...input.argv],
    workingDir: `${BOX}/ws`,
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    volumeMounts: [box, tmp],
    resources: { requests: runResources, limits: runResources },
    securityContext: LOCKED_DOWN,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: input.name, namespace: settings.namespace, labels, annotations: jobAnnotations(ids) },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.timeoutS + settings.startAllowanceS,
      ttlSecondsAfterFinished: settings.jobTtlS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // Cancel deletes the Job; its pod should not linger for the default 30 s.
          terminationGracePeriodSeconds: 2,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SANDBOX_UID,
            runAsGroup: SANDBOX_UID,
            fsGroup: SANDBOX_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          initContainers: [transfer(CONTAINERS.fetch, FETCH_SCRIPT, 'AGENTYARD_IN_URL', input.inputUrl)],
          containers: [run, transfer(CONTAINERS.upload, UPLOAD_SCRIPT, 'AGENTYARD_OUT_URL', input.outputUrl)],
          volumes: [
            { name: 'box', emptyDir: { sizeLimit: mib(settings.boxBytes) } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };
}
