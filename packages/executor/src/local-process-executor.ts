import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '@agentyard/core';
import { normalisePath } from '@agentyard/workspace';
import { ExecError } from './exec-errors';
import type { ExecLimits, ExecRequest, ExecResult, Executor } from './executor';
import { classifyExit, exitStatus } from './exit-classify';
import { createOutputCapture, type OutputCapture } from './output-capture';
import { bwrapArgs, prlimitArgs, sandboxEnv, sandboxLimits, STATUS_FD, type HostPath, type SandboxLimits } from './sandbox-command';
import { superviseProcess, type Supervised } from './supervise-process';
import { collectChanges, materialise, type SkippedFile } from './workspace-sync';

/**
 * Runs shell and code tools as local processes, for laptops and single hosts. Build it with
 * createLocalProcessExecutor, which checks the sandbox works before the worker takes runs.
 *
 * Each exec: a fresh temp directory gets the workspace (workspace-sync.ts), the command runs in
 * it under bubblewrap (sandbox-command.ts says what the sandbox holds), and when it exits the
 * files it created, changed or deleted go back. A timeout, an OOM, a cancel or a sandbox
 * failure writes nothing back: only an exit counts as the command's work.
 *
 * When the worker runs as root, the sandbox (bwrap itself) runs as `sandboxUid` on the host,
 * not only inside the user namespace: bwrap started by root maps the sandbox user to host
 * root, which then owns (and can read) every root-owned file such as /etc/shadow, and is
 * exempt from RLIMIT_NPROC. As another user, the sandbox user maps to that user; the host
 * paths it sees are only the system directories, so that user's home stays out of sight.
 *
 * A dead worker's command cannot be reattached to: --die-with-parent kills it with the
 * worker, and nothing was written back (write-back happens only at exit). The step runs
 * again from the start on the run's next attempt, so a command runs at least once, and more
 * than once when a worker dies during it; effects outside the workspace are impossible
 * (no network), effects inside are those of the last complete run.
 */

/** Skipped-file lines appended to stderr, at most. */
const MAX_NOTICES = 20;

export interface ResolvedLocalOptions {
  limits: ExecLimits;
  /** Plain child processes instead of bubblewrap (EXECUTOR_UNSANDBOXED). */
  unsandboxed: boolean;
  bwrapPath: string;
  prlimitPath: string;
  hostPaths: HostPath[];
  tmpDir: string;
  /** Host uid/gid the command runs as when the worker is root; undefined otherwise. */
  runAs?: { uid: number; gid: number };
}

export class LocalProcessExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(private readonly o: ResolvedLocalOptions) {}

  async exec(req: ExecRequest): Promise<ExecResult> {
    req.signal.throwIfAborted();
    const cwd = req.cwd ? normalisePath(req.cwd, 'cwd') : '';
    const limits = sandboxLimits(this.o.limits, req.timeoutS);
    const box = await mkdtemp(join(this.o.tmpDir, 'ay-exec-'));
    const capture = createOutputCapture({
      limits: this.o.limits,
      tmpDir: this.o.tmpDir,
      ...(req.onOutput ? { onOutput: req.onOutput } : {}),
    });
    try {
      const work = join(box, 'work');
      await mkdir(work);
      const snapshot = await materialise(req.workspace, work, this.o.limits, req.signal);
      await mkdir(join(work, cwd), { recursive: true }).catch((err: unknown) => {
        throw ValidationError.field('cwd', `cannot be used as the working directory: ${(err as Error).message.replace(box, '')}`);
      });
      const run = await this.run(req, box, work, cwd, limits, capture);
      if (run.killed === 'abort') throw req.signal.reason;
      if (run.killed === 'timeout') throw ExecError.timeout(req.timeoutS);
      const out = capture.finish();
      if (!this.o.unsandboxed && run.reportedExit === undefined) {
        throw ExecError.unavailable(`the sandbox could not run the command: ${out.tails.stderr.trim().slice(-500) || 'bwrap exited without a status'}`);
      }
      const exitCode = run.reportedExit ?? exitStatus(run.code, run.signal);
      // The head holds V8's OOM line (its GC trace and stack follow it), the tail Python's MemoryError.
      const outcome = classifyExit(exitCode, `${out.stderr}\n${out.tails.stderr}`, limits);
      if (outcome.kind === 'error') throw outcome.error;

      const skipped: SkippedFile[] = [];
      const files_changed = await collectChanges(req.workspace, snapshot, work, {
        limits: this.o.limits,
        onSkip: (s) => skipped.push(s),
        signal: req.signal,
      });
      const notices = noticeLines(skipped, outcome.notice);
      for (const line of notices) req.onOutput?.('stderr', line);
      const saved = await capture.save(req.workspace, { stepId: req.stepId, attempt: req.attempt });
      return {
        exit_code: exitCode,
        stdout: out.stdout,
        stderr: appendLines(out.stderr, notices),
        truncated: out.truncated,
        duration_ms: run.durationMs,
        files_changed,
        ...saved,
      };
    } finally {
      capture.dispose();
      await removeBox(box);
    }
  }

  async close(): Promise<void> {}

  private async run(req: ExecRequest, box: string, work: string, cwd: string, limits: SandboxLimits, capture: OutputCapture): Promise<Supervised> {
    const runAs = this.o.runAs;
    const base = { stdin: req.stdin ?? '', timeoutMs: req.timeoutS * 1000, signal: req.signal, capture, ...(runAs ?? {}) };
    if (this.o.unsandboxed) {
      const home = join(box, 'home');
      const tmp = join(box, 'tmp');
      await mkdir(home);
      await mkdir(tmp);
      if (runAs) await prepareForSandboxUser(box, runAs);
      // RLIMIT_NPROC counts every process of the host uid: only a dedicated uid can carry it.
      const rl = prlimitArgs(limits).filter((a) => runAs !== undefined || !a.startsWith('--nproc'));
      return superviseProcess({
        ...base,
        file: this.o.prlimitPath,
        args: [...rl, ...req.argv],
        env: sandboxEnv({ home, tmp }, limits.memoryBytes, req.env),
        cwd: join(work, cwd),
      });
    }
    if (runAs) await prepareForSandboxUser(box, runAs);
    const args = [
      ...bwrapArgs({ hostPaths: this.o.hostPaths, workDir: work, cwd, uid: 65534, gid: 65534 }),
      this.o.prlimitPath,
      ...prlimitArgs(limits),
      ...req.argv,
    ];
    return superviseProcess({
      ...base,
      file: this.o.bwrapPath,
      args,
      env: sandboxEnv({ home: '/tmp', tmp: '/tmp' }, limits.memoryBytes, req.env),
      cwd: '/',
      statusFd: STATUS_FD,
    });
  }
}

/** The sandbox user must reach its bind source and own the files it may change. */
async function prepareForSandboxUser(box: string, who: { uid: number; gid: number }): Promise<void> {
  await chmod(box, 0o711);
  for (const name of await readdir(box)) await chownTree(join(box, name), who);
}

async function chownTree(path: string, who: { uid: number; gid: number }): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  await chown(path, who.uid, who.gid);
  if (st.isDirectory()) for (const name of await readdir(path)) await chownTree(join(path, name), who);
}

/**
 * Removes the temp directory even when the command left directories without write or search
 * permission (chmod 000 as the same host user).
 */
async function removeBox(box: string): Promise<void> {
  try {
    await rm(box, { recursive: true, force: true });
  } catch {
    await reopen(box);
    await rm(box, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function reopen(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, 0o700).catch(() => undefined);
  for (const name of await readdir(path).catch(() => [] as string[])) await reopen(join(path, name));
}

function noticeLines(skipped: SkippedFile[], exitNotice: string | undefined): string[] {
  const lines = skipped.slice(0, MAX_NOTICES).map((s) => `agentyard: not written back: ${s.path} (${s.reason})`);
  if (skipped.length > MAX_NOTICES) lines.push(`agentyard: and ${skipped.length - MAX_NOTICES} more not written back`);
  if (exitNotice) lines.push(exitNotice);
  return lines;
}

function appendLines(text: string, lines: string[]): string {
  if (lines.length === 0) return text;
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  return `${text}${sep}${lines.join('\n')}\n`;
}
