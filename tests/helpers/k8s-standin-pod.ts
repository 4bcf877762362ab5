import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, lstatSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The life of one Job's pod, played with local processes: init containers one after another,
 * then the containers together, each command run under bubblewrap in a filesystem shaped like
 * the container's: the host's root read-only (standing in for the image: the images are never
 * pulled, the host's sh, curl, tar and python3 run instead), each emptyDir a fresh host
 * directory bound at its mountPath, its own pid namespace, the uid of runAsUser, and only the
 * container's env (plus the host's PATH, standing in for the image's). The command container
 * (`run`) also gets its own network namespace, standing in for the sandbox NetworkPolicy; the
 * transfer containers keep the host's, so their presigned requests reach s3rver.
 *
 * Failure injection by a marker in a container's image name:
 *   standin-fail-pull   the image never pulls: ErrImagePull, then ImagePullBackOff, forever
 *   standin-oom         killed 300 ms after it starts, reported OOMKilled (exit 137)
 *   standin-evict       300 ms after it starts, the whole pod is evicted (phase Failed, reason Evicted)
 *   standin-stall       the command is replaced by a sleep that never ends
 * activeDeadlineSeconds is honoured: at the deadline every process is killed and the Job
 * gets the condition Failed/DeadlineExceeded.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

export interface PodEvents {
  changed(): void;
}

export class StandInPod {
  readonly name: string;
  readonly object: Obj;
  readonly log: { chunks: Buffer[]; ended: boolean; listeners: Set<(chunk: Buffer | null) => void> } = { chunks: [], ended: false, listeners: new Set() };
  private readonly procs = new Set<ChildProcess>();
  private readonly root: string;
  private stopped = false;

  constructor(
    private readonly job: Obj,
    private readonly onJobCondition: (type: 'Complete' | 'Failed', reason: string, message: string) => void,
  ) {
    const suffix = Math.random().toString(36).slice(2, 7);
    this.name = `${job.metadata.name}-${suffix}`;
    const tpl = job.spec.template;
    this.object = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: this.name,
        namespace: job.metadata.namespace,
        uid: `pod-${suffix}`,
        creationTimestamp: new Date().toISOString(),
        labels: { ...(tpl.metadata?.labels ?? {}), 'job-name': job.metadata.name, 'batch.kubernetes.io/job-name': job.metadata.name },
      },
      spec: tpl.spec,
      status: {
        phase: 'Pending',
        initContainerStatuses: (tpl.spec.initContainers ?? []).map((c: Obj) => waiting(c.name, 'PodInitializing')),
        containerStatuses: tpl.spec.containers.map((c: Obj) => waiting(c.name, 'PodInitializing')),
      },
    };
    this.root = mkdtempSync(join(tmpdir(), 'ay-standin-pod-'));
  }

  async start(): Promise<void> {
    const deadline = this.job.spec.activeDeadlineSeconds;
    const timer = deadline
      ? setTimeout(() => this.fail('DeadlineExceeded', 'Job was active longer than specified deadline'), deadline * 1000)
      : undefined;
    try {
      const spec = this.job.spec.template.spec;
      this.object.status.phase = 'Pending';
      for (const [i, c] of (spec.initContainers ?? []).entries()) {
        const code = await this.runContainer(c, this.object.status.initContainerStatuses, i, false);
        if (this.stopped) return;
        if (code !== 0) return this.finish('Failed', 'BackoffLimitExceeded', `init container ${c.name} failed`);
      }
      this.object.status.phase = 'Running';
      const codes = await Promise.all(spec.containers.map((c: Obj, i: number) => this.runContainer(c, this.object.status.containerStatuses, i, c.name === 'run')));
      if (this.stopped) return;
      if (codes.every((c) => c === 0)) this.finish('Complete', 'Completed', 'Reached expected number of succeeded pods');
      else this.finish('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** The pod is deleted (its Job was): every process killed at once, the emptyDirs removed. */
  stop(): void {
    this.stopped = true;
    this.killAll();
    this.endLog();
    rmSync(this.root, { recursive: true, force: true });
  }

  private fail(reason: string, message: string, podReason?: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.killAll();
    for (const s of [...this.object.status.initContainerStatuses, ...this.object.status.containerStatuses]) {
      if (s.state.running) s.state = { terminated: { exitCode: 137, reason: 'Error', startedAt: s.state.running.startedAt, finishedAt: now() } };
    }
    this.object.status.phase = 'Failed';
    if (podReason) Object.assign(this.object.status, { reason: podReason, message });
    this.endLog();
    this.onJobCondition('Failed', reason, message);
  }

  private finish(type: 'Complete' | 'Failed', reason: string, message: string): void {
    this.object.status.phase = type === 'Complete' ? 'Succeeded' : 'Failed';
    this.onJobCondition(type, reason, message);
  }

  private runContainer(c: Obj, statuses: Obj[], i: number, isolateNet: boolean): Promise<number> {
    const image: string = c.image;
    if (image.includes('standin-fail-pull')) {
      statuses[i] = waiting(c.name, 'ErrImagePull', `failed to pull image "${image}": not found`);
      setTimeout(() => !this.stopped && (statuses[i] = waiting(c.name, 'ImagePullBackOff', `Back-off pulling image "${image}"`)), 200).unref();
      return new Promise(() => undefined); // the kubelet keeps backing off
    }
    const argv: string[] = image.includes('standin-stall') ? ['/bin/sh', '-c', 'exec sleep 3600'] : [...(c.command ?? []), ...(c.args ?? [])];
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const e of c.env ?? []) env[e.name] = e.value ?? '';
    const proc = spawn('bwrap', [...this.sandboxArgs(c, isolateNet), '--', ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(proc);
    const startedAt = now();
    statuses[i] = { name: c.name, image, ready: true, restartCount: 0, started: true, state: { running: { startedAt } } };
    if (c.name === 'run') {
      for (const s of [proc.stdout, proc.stderr]) s.on('data', (d: Buffer) => this.appendLog(d));
    } else {
      proc.stdout.resume();
      proc.stderr.resume();
    }
    let injected: string | undefined;
    if (image.includes('standin-oom') || image.includes('standin-evict')) {
      setTimeout(() => {
        if (this.stopped) return;
        if (image.includes('standin-evict')) return this.fail('BackoffLimitExceeded', 'The node was low on resource: memory.', 'Evicted');
        injected = 'OOMKilled';
        proc.kill('SIGKILL');
      }, 300).unref();
    }
    return new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        this.procs.delete(proc);
        const exitCode = code ?? (signal ? 128 + 9 : 1);
        if (!this.stopped) {
          const reason = injected ?? (exitCode === 0 ? 'Completed' : 'Error');
          statuses[i] = { name: c.name, image, ready: false, restartCount: 0, started: false, state: { terminated: { exitCode, reason, startedAt, finishedAt: now() } } };
        }
        if (c.name === 'run') this.endLog();
        resolve(exitCode);
      });
    });
  }

  private sandboxArgs(c: Obj, isolateNet: boolean): string[] {
    const args = ['--tmpfs', '/'];
    const mounts = new Set((c.volumeMounts ?? []).map((m: Obj) => m.mountPath.split('/')[1]));
    for (const e of readdirSync('/')) {
      if (['proc', 'dev', 'tmp', 'sys'].includes(e) || mounts.has(e)) continue;
      const p = `/${e}`;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(p), p);
      else if (st.isDirectory()) args.push('--ro-bind', p, p);
    }
    args.push('--dev', '/dev', '--proc', '/proc');
    for (const m of c.volumeMounts ?? []) {
      const host = join(this.root, m.name);
      mkdirSync(host, { recursive: true });
      args.push('--bind', host, m.mountPath);
    }
    if (c.securityContext?.readOnlyRootFilesystem) args.push('--remount-ro', '/');
    const uid = c.securityContext?.runAsUser ?? this.job.spec.template.spec.securityContext?.runAsUser;
    if (uid !== undefined) args.push('--unshare-user', '--uid', String(uid), '--gid', String(uid));
    args.push('--unshare-pid', '--die-with-parent', '--new-session');
    if (isolateNet) args.push('--unshare-net');
    if (c.workingDir) args.push('--chdir', c.workingDir);
    return args;
  }

  private appendLog(chunk: Buffer): void {
    this.log.chunks.push(chunk);
    for (const l of this.log.listeners) l(chunk);
  }

  private endLog(): void {
    if (this.log.ended) return;
    this.log.ended = true;
    for (const l of this.log.listeners) l(null);
  }

  private killAll(): void {
    for (const p of this.procs) p.kill('SIGKILL');
  }
}

function waiting(name: string, reason: string, message?: string): Obj {
  return { name, ready: false, restartCount: 0, started: false, state: { waiting: { reason, ...(message ? { message } : {}) } } };
}

function now(): string {
  return new Date().toISOString();
}
