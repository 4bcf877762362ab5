import type { V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import { ExecError } from './exec-errors';
import { CONTAINERS } from './job-spec';

/**
 * What a tool Job's status says, read without I/O from the Job and its pods, and what the
 * executor does about it. Classification:
 *
 * - the command's container ended with reason OOMKilled: exec_oom (not retryable);
 * - the Job hit activeDeadlineSeconds (condition Failed/DeadlineExceeded) after the command had
 *   started: exec_timeout; before it started (stuck Pending, a slow pull, a full quota): the
 *   sandbox never ran it, executor_unavailable (retryable);
 * - an image that cannot be pulled (ErrImagePull, ImagePullBackOff, InvalidImageName, ...) for
 *   longer than the grace: executor_unavailable; within the grace, a transient registry error
 *   may still resolve, so wait;
 * - the pod evicted (node pressure, preemption) or deleted, or the Job failed for another
 *   reason, or the upload container failed: executor_unavailable;
 * - the command's container could not start (StartError: no /bin/sh in the image): executor_unavailable;
 * - the upload container ended with 0 (or the Job is Complete): collect the result.
 */

const PULL_ERRORS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);

export interface JobObservation {
  exists: boolean;
  pod?: string;
  /** The command's container is, or was, running. */
  mainStarted: boolean;
  main?: { exitCode: number; reason?: string };
  upload?: { exitCode: number; reason?: string };
  pullProblem?: { container: string; reason: string; message?: string };
  evicted?: string;
  deadlineExceeded: boolean;
  complete: boolean;
  failed?: string;
}

export function observeJob(job: V1Job | undefined, pods: V1Pod[]): JobObservation {
  const obs: JobObservation = { exists: job !== undefined, mainStarted: false, deadlineExceeded: false, complete: false };
  for (const c of job?.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') obs.complete = true;
    if (c.type === 'Failed' && c.reason === 'DeadlineExceeded') obs.deadlineExceeded = true;
    else if (c.type === 'Failed') obs.failed = `${c.reason ?? 'Failed'}: ${c.message ?? ''}`.trim();
  }
  // backoffLimit 0 and restartPolicy Never: one pod, unless one was replaced after an eviction.
  const pod = [...pods].sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))[0];
  if (!pod) return obs;
  obs.pod = pod.metadata?.name;
  if (pod.status?.reason === 'Evicted' || pod.status?.reason === 'Preempting') obs.evicted = pod.status.message ?? pod.status.reason;
  const statuses: V1ContainerStatus[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const waiting = s.state?.waiting;
    if (waiting?.reason && PULL_ERRORS.has(waiting.reason)) {
      obs.pullProblem ??= { container: s.name, reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) };
    }
    const done = s.state?.terminated;
    if (s.name === CONTAINERS.run) {
      if (s.state?.running || done) obs.mainStarted = true;
      if (done) obs.main = { exitCode: done.exitCode, ...(done.reason ? { reason: done.reason } : {}) };
    }
    if (s.name === CONTAINERS.upload && done) obs.upload = { exitCode: done.exitCode, ...(done.reason ? { reason: done.reason } : {}) };
  }
  return obs;
}

export type JobAction = { kind: 'wait' } | { kind: 'collect' } | { kind: 'fail'; error: ExecError };

export interface ClassifyContext {
  timeoutS: number;
  memoryBytes: number;
  /** Since when (ms) a pull problem has been seen without a break; undefined when none. */
  pullProblemSince?: number;
  pullGraceMs: number;
  now: number;
}

export function classify(obs: JobObservation, ctx: ClassifyContext): JobAction {
  const fail = (error: ExecError): JobAction => ({ kind: 'fail', error });
  if (!obs.exists) return fail(ExecError.unavailable('the tool Job disappeared before it finished (deleted outside this executor)'));
  if (obs.main?.reason === 'OOMKilled') return fail(ExecError.oom(ctx.memoryBytes));
  if (obs.main?.reason === 'StartError' || obs.main?.reason === 'ContainerCannotRun') {
    return fail(ExecError.unavailable(`the command's container could not start (${obs.main.reason}); does the image have /bin/sh?`));
  }
  if (obs.upload?.exitCode === 0 || obs.complete) return { kind: 'collect' };
  if (obs.deadlineExceeded) {
    return obs.mainStarted
      ? fail(ExecError.timeout(ctx.timeoutS))
      : fail(ExecError.unavailable('the tool Job reached its deadline before the command started (pending pod, slow image pull or full sandbox quota)'));
  }
  if (obs.evicted) return fail(ExecError.unavailable(`the tool pod was evicted: ${obs.evicted}`));
  if (obs.upload && obs.upload.exitCode !== 0) return fail(ExecError.unavailable(`uploading the result failed (upload container exit ${obs.upload.exitCode})`));
  if (obs.failed) return fail(ExecError.unavailable(`the tool Job failed: ${obs.failed}`));
  if (obs.pullProblem && ctx.pullProblemSince !== undefined && ctx.now - ctx.pullProblemSince >= ctx.pullGraceMs) {
    const p = obs.pullProblem;
    return fail(ExecError.unavailable(`the image of container ${p.container} cannot be pulled (${p.reason}${p.message ? `: ${p.message}` : ''})`));
  }
  return { kind: 'wait' };
}
