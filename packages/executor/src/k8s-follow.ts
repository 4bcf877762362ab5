import { ExecError } from './exec-errors';
import type { ExecRequest } from './executor';
import { k8s, type KubeJobsApi } from './k8s-api';
import { CONTAINERS } from './job-spec';
import { classify, observeJob } from './job-state';
import { parseLogLine } from './pod-scripts';

/**
 * Waits for a tool Job to reach a result, streaming its command's log meanwhile. Resolves when
 * the result is uploaded; throws the ExecError job-state.ts classifies, or exec_timeout once
 * the command has run `timeoutS` (counted from when its container is first seen running).
 *
 * Polling, not a watch: each round is one GET of the Job and one LIST of its pods (by the
 * `job-name` label the Job controller sets), every `initialMs` while something changes and
 * backing off by half up to `maxMs` while nothing does. A watch would need list+watch rights,
 * resourceVersion bookkeeping and reconnects after 410 Gone or a dropped connection, and it
 * delivers the same state a moment sooner; the end of the command's log stream (which the
 * executor follows anyway) triggers an immediate poll, so a short command is not held back by
 * the backoff. Cost: about 2 requests per second per running command while it is young, 1 per
 * second once it has run for a while.
 */

export interface FollowOptions {
  api: KubeJobsApi;
  namespace: string;
  name: string;
  timeoutS: number;
  memoryBytes: number;
  pullGraceMs: number;
  uploadGraceMs: number;
  poll: { initialMs: number; maxMs: number };
  signal: AbortSignal;
  onOutput?: ExecRequest['onOutput'];
}

export async function followJob(o: FollowOptions): Promise<void> {
  let delay = o.poll.initialMs;
  let last = '';
  let pullSince: number | undefined;
  let mainEndedAt: number | undefined;
  let commandDeadline: number | undefined;
  let logs: { done: Promise<void>; ended: boolean } | undefined;
  for (;;) {
    o.signal.throwIfAborted();
    const [job, pods] = await Promise.all([
      k8s('read the Job', () => o.api.getJob(o.namespace, o.name)),
      k8s('list the Job’s pods', () => o.api.listPods(o.namespace, `job-name=${o.name}`)),
    ]);
    const now = Date.now();
    const obs = observeJob(job, pods);
    pullSince = obs.pullProblem ? (pullSince ?? now) : undefined;
    if (obs.main) mainEndedAt ??= now;
    if (obs.mainStarted && obs.pod && !logs) {
      commandDeadline = now + o.timeoutS * 1000;
      const l: { done: Promise<void>; ended: boolean } = { done: followLogs(o, obs.pod), ended: false };
      void l.done.then(() => (l.ended = true));
      logs = l;
    }
    const action = classify(obs, {
      timeoutS: o.timeoutS,
      memoryBytes: o.memoryBytes,
      pullGraceMs: o.pullGraceMs,
      now,
      ...(pullSince === undefined ? {} : { pullProblemSince: pullSince }),
    });
    if (action.kind === 'collect') {
      // The log ends with the container; give its last lines a moment to arrive.
      if (logs) await Promise.race([logs.done, sleep(2000, o.signal)]);
      return;
    }
    if (action.kind === 'fail') throw action.error;
    if (!obs.main && commandDeadline !== undefined && now >= commandDeadline) throw ExecError.timeout(o.timeoutS);
    if (mainEndedAt !== undefined && now - mainEndedAt > o.uploadGraceMs) {
      throw ExecError.unavailable(`the command ended ${Math.round((now - mainEndedAt) / 1000)} s ago but its result was never uploaded`);
    }
    const state = JSON.stringify(obs);
    delay = state === last ? Math.min(o.poll.maxMs, Math.round(delay * 1.5)) : o.poll.initialMs;
    last = state;
    let wait = delay;
    if (commandDeadline !== undefined && !obs.main) wait = Math.max(0, Math.min(wait, commandDeadline - now));
    await Promise.race([sleep(wait, o.signal), ...(logs && !logs.ended ? [logs.done] : [])]);
  }
}

/**
 * Follows the command's container log into onOutput. A stream that breaks while the
 * container still runs is reopened, skipping the lines already delivered (the log API replays
 * from the start). Never rejects: live output is a courtesy, the result comes from the files.
 */
async function followLogs(o: FollowOptions, pod: string): Promise<void> {
  let delivered = 0;
  for (let tries = 0; tries < 5 && !o.signal.aborted; tries++) {
    let seen = 0;
    try {
      await o.api.followLog(
        o.namespace,
        pod,
        CONTAINERS.run,
        (line) => {
          if (++seen <= delivered) return;
          delivered = seen;
          const { stream, text } = parseLogLine(line);
          try {
            o.onOutput?.(stream, text);
          } catch {
            /* the caller's listener failing must not stop the command */
          }
        },
        o.signal,
      );
      return;
    } catch {
      await sleep(200 * (tries + 1), o.signal).catch(() => undefined);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
