import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecError } from './exec-errors';
import { DEFAULT_EXEC_LIMITS, type ExecLimits, type ExecRequest, type ExecResult, type Executor } from './executor';
import { apiStatus, describeApiError, k8s, type KubeJobsApi } from './k8s-api';
import { followJob } from './k8s-follow';
import { jobName } from './k8s-names';
import { captureStreams, execKeys, packInput, parseSnapshot, serialiseSnapshot, unpackOutput, type ExecKeys } from './k8s-transfer';
import { buildJobSpec, type JobSpecSettings } from './job-spec';
import type { ObjectStore } from './object-store';
import { createOutputCapture } from './output-capture';
import { collectChanges, materialise, type Snapshot } from './workspace-sync';

/**
 * Runs each command as one Kubernetes Job (job-spec.ts) whose files move through presigned S3
 * URLs, so the pod holds no credentials of any kind.
 *
 * One execution = one (runId, stepId, attempt) = one Job name. `exec` first looks the name up:
 * a Job that exists was created by an earlier exec of the same execution (a worker that died
 * while it ran), and is reattached to, waited for and collected, never created again. The
 * caller passes the same attempt when it re-executes a step whose earlier execution has no
 * recorded outcome; exec is idempotent for it. Left uncovered: a worker that died after
 * collecting and cleaning up, but before the run recorded the outcome; its re-exec finds no
 * Job and runs the command again.
 *
 * The command's own timeout is enforced here (from when its container is seen running), not by
 * the Job's activeDeadlineSeconds, which also counts scheduling, image pulls and transfers and
 * so carries an allowance; the deadline is the backstop when no worker watches.
 *
 * Every way out deletes the Job (propagationPolicy Background) and the execution's S3 objects:
 * at once on success, failure and timeout; on cancel the rejection comes first (within 2 s)
 * and the deletions finish in the background (`close` waits for them).
 */

export interface K8sJobExecutorOptions {
  api: KubeJobsApi;
  store: ObjectStore;
  spec: Omit<JobSpecSettings, 'memoryBytes' | 'boxBytes'>;
  limits?: Partial<ExecLimits>;
  /** How long an image pull error may last before it is executor_unavailable. @default 60000 */
  pullGraceMs?: number;
  /** How long after the command ended its result may take to upload. @default 120000 */
  uploadGraceMs?: number;
  /** Poll interval of the Job's status: from `initialMs`, growing by half up to `maxMs` while nothing changes. @default {initialMs: 100, maxMs: 2000} */
  poll?: { initialMs: number; maxMs: number };
  /** Parent of the per-exec temp dirs. @default os.tmpdir() */
  tmpDir?: string;
  /** Told about cleanup that failed (the Job's TTL and the bucket's lifecycle rule are the backstops). */
  onCleanupError?(what: string, err: unknown): void;
}

export class K8sJobExecutor implements Executor {
  readonly kind = 'k8s' as const;
  private readonly limits: ExecLimits;
  private readonly settings: JobSpecSettings;
  private readonly cleanups = new Set<Promise<void>>();

  constructor(private readonly opts: K8sJobExecutorOptions) {
    this.limits = { ...DEFAULT_EXEC_LIMITS, ...opts.limits };
    // The pod holds the tarball and the unpacked files until the tarball is removed, then the
    // files, the whole streams and the output tarball: room for the workspace twice plus output.
    const boxBytes = 2 * this.limits.workspaceBytes + 2 * this.limits.fileBytes + 64 * 1024 * 1024;
    this.settings = { ...opts.spec, memoryBytes: this.limits.memoryBytes, boxBytes };
  }

  async exec(req: ExecRequest): Promise<ExecResult> {
    req.signal.throwIfAborted();
    const started = Date.now();
    const name = jobName(req.runId, req.stepId, req.attempt);
    const keys = execKeys(req.tenant, name);
    const inner = new AbortController();
    const onAbort = () => inner.abort(req.signal.reason);
    req.signal.addEventListener('abort', onAbort, { once: true });
    const tmp = await mkdtemp(join(this.opts.tmpDir ?? tmpdir(), 'ay-k8s-exec-'));
    let cancelled = false;
    const work = this.run(req, name, keys, tmp, inner.signal, started);
    try {
      return await raceAbort(work, inner.signal);
    } catch (e) {
      cancelled = req.signal.aborted;
      throw cancelled ? req.signal.reason : e;
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      inner.abort();
      // On cancel `work` may still be between its last check and a create; cleaning up again
      // once it has settled removes what it made after the first pass.
      const cleanup = this.cleanup(name, keys, tmp).then(async () => {
        if (!cancelled) return;
        await work.catch(() => undefined);
        await this.cleanup(name, keys, tmp);
      });
      this.cleanups.add(cleanup);
      void cleanup.finally(() => this.cleanups.delete(cleanup));
      if (!cancelled) await cleanup;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.cleanups]);
  }

  private async run(req: ExecRequest, name: string, keys: ExecKeys, tmp: string, signal: AbortSignal, started: number): Promise<ExecResult> {
    const ns = this.settings.namespace;
    const existing = await k8s('look up the Job', () => this.opts.api.getJob(ns, name));
    let snapshot: Snapshot;
    if (existing) {
      snapshot = await this.loadSnapshot(keys);
    } else {
      snapshot = await materialise(req.workspace, join(tmp, 'in', 'ws'), this.limits, signal);
      const input = await packInput(tmp, req.stdin);
      await s3('upload the workspace', async () => {
        await this.opts.store.putFile(keys.input, input);
        await this.opts.store.put(keys.snapshot, serialiseSnapshot(snapshot));
      });
      await this.createJob(req, name, keys, signal);
    }
    await followJob({
      api: this.opts.api,
      namespace: ns,
      name,
      timeoutS: req.timeoutS,
      memoryBytes: this.limits.memoryBytes,
      pullGraceMs: this.opts.pullGraceMs ?? 60_000,
      uploadGraceMs: this.opts.uploadGraceMs ?? 120_000,
      poll: this.opts.poll ?? { initialMs: 100, maxMs: 2000 },
      signal,
      ...(req.onOutput ? { onOutput: req.onOutput } : {}),
    });
    return this.collect(req, snapshot, keys, tmp, signal, started);
  }

  private async createJob(req: ExecRequest, name: string, keys: ExecKeys, signal: AbortSignal): Promise<void> {
    // Valid until the Job's own deadline has passed, with room for a slow upload; S3 caps
    // presigned URLs at 7 days.
    const expires = Math.min(604_800, req.timeoutS + this.settings.startAllowanceS + 600);
    const [inputUrl, outputUrl] = await s3('presign the transfers', () =>
      Promise.all([this.opts.store.presignGet(keys.input, expires), this.opts.store.presignPut(keys.output, expires)]),
    );
    const job = buildJobSpec(
      {
        name,
        runId: req.runId,
        stepId: req.stepId,
        attempt: req.attempt,
        tenant: req.tenant,
        argv: req.argv,
        cwd: req.cwd ?? '',
        env: req.env ?? {},
        timeoutS: req.timeoutS,
        ...(req.language ? { language: req.language } : {}),
        inputUrl,
        outputUrl,
      },
      this.settings,
    );
    signal.throwIfAborted();
    try {
      await this.opts.api.createJob(this.settings.namespace, job);
    } catch (e) {
      // Another exec of the same execution created it first: follow that one.
      if (apiStatus(e) === 409) return;
      throw ExecError.unavailable(`the Kubernetes API refused to create the tool Job (${describeApiError(e)})`, e);
    }
  }

  private async loadSnapshot(keys: ExecKeys): Promise<Snapshot> {
    const raw = await s3('read the snapshot', () => this.opts.store.get(keys.snapshot));
    if (raw === undefined) throw ExecError.unavailable('the tool Job exists but the record of its input is gone; it cannot be collected');
    return parseSnapshot(raw.toString('utf8'));
  }

  private async collect(req: ExecRequest, snapshot: Snapshot, keys: ExecKeys, tmp: string, signal: AbortSignal, started: number): Promise<ExecResult> {
    const file = join(tmp, 'out.tar');
    const found = await s3('download the result', () => this.opts.store.getFile(keys.output, file));
    if (!found) throw ExecError.unavailable('the tool Job finished without uploading its result');
    const { ws, exitCode } = await unpackOutput(file, tmp);
    if (exitCode === undefined) throw ExecError.unavailable('the tool Job uploaded a result without an exit code');
    const capture = createOutputCapture({ limits: this.limits, tmpDir: tmp });
    try {
      await captureStreams(tmp, capture);
      const out = capture.finish();
      const files_changed = await collectChanges(req.workspace, snapshot, ws, { limits: this.limits, signal });
      const saved = out.truncated ? await capture.save(req.workspace, { stepId: req.stepId, attempt: req.attempt }) : {};
      return {
        exit_code: exitCode,
        stdout: out.stdout,
        stderr: out.stderr,
        truncated: out.truncated,
        duration_ms: Date.now() - started,
        files_changed,
        ...saved,
      };
    } finally {
      capture.dispose();
    }
  }

  private async cleanup(name: string, keys: ExecKeys, tmp: string): Promise<void> {
    const report = (what: string) => (e: unknown) => this.opts.onCleanupError?.(what, e);
    await Promise.all([
      this.opts.api.deleteJob(this.settings.namespace, name).catch(report(`delete Job ${name}`)),
      ...Object.values(keys).map((k) => this.opts.store.delete(k).catch(report(`delete ${k}`))),
      rm(tmp, { recursive: true, force: true }).catch(report(`remove ${tmp}`)),
    ]);
  }
}

/** Rejects with the signal's reason as soon as it aborts, whatever `work` is waiting on. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function s3<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ExecError) throw e;
    throw ExecError.unavailable(`the object store failed to ${what}: ${(e as Error)?.message ?? String(e)}`, e);
  }
}
