import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ExecError } from './exec-errors';
import type { OutputCapture } from './output-capture';

/**
 * Runs one process as the leader of its own process group and brings it to an end:
 *
 * - Output goes to `capture` as it arrives; `stdin` is written and closed at once.
 * - Timeout and abort kill the whole group with SIGKILL (kill(-pgid)); so does the leader's
 *   exit, so a background child the command left behind does not outlive it. Under bwrap the
 *   group is bwrap itself; its pid namespace takes every process of the command with it.
 * - A process that left the group (setsid, only possible unsandboxed) and still holds the
 *   output pipes cannot be killed from here; its pipes are let go of CLOSE_GRACE_MS after the
 *   leader exits, so the run does not hang on it.
 * - With `statusFd`, bwrap's --json-status-fd lines are read to tell whether the command
 *   started (`child-pid`) and came to an exit (`exit-code`); a bwrap that exits without
 *   reporting the command's exit failed to set the sandbox up.
 */

export const CLOSE_GRACE_MS = 1000;

export interface SuperviseInput {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  stdin?: string;
  timeoutMs: number;
  signal: AbortSignal;
  capture: OutputCapture;
  statusFd?: number;
}

export interface Supervised {
  code: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** Why we killed it, if we did. */
  killed?: 'timeout' | 'abort';
  /** bwrap's own report: the command's exit status, absent when the sandbox never ran it. */
  reportedExit?: number;
}

export function superviseProcess(i: SuperviseInput): Promise<Supervised> {
  return new Promise<Supervised>((resolve, reject) => {
    const started = Date.now();
    const stdio: Array<'pipe' | 'ignore'> = ['pipe', 'pipe', 'pipe'];
    if (i.statusFd !== undefined) {
      while (stdio.length < i.statusFd) stdio.push('ignore');
      stdio.push('pipe');
    }
    let child;
    try {
      child = spawn(i.file, i.args, {
        env: i.env,
        cwd: i.cwd,
        detached: true,
        stdio,
        ...(i.uid === undefined ? {} : { uid: i.uid }),
        ...(i.gid === undefined ? {} : { gid: i.gid }),
      });
    } catch (err) {
      reject(ExecError.unavailable(`could not start ${i.file}: ${(err as Error).message}`, err));
      return;
    }
    const proc = child;
    let killed: Supervised['killed'];
    let reportedExit: number | undefined;
    let exited: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const killGroup = () => {
      if (proc.pid === undefined) return;
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* ESRCH: the group is already gone */
      }
    };
    const stop = (why: 'timeout' | 'abort') => {
      killed ??= why;
      killGroup();
    };
    const timer = setTimeout(() => stop('timeout'), i.timeoutMs);
    const onAbort = () => stop('abort');
    i.signal.addEventListener('abort', onAbort, { once: true });
    if (i.signal.aborted) stop('abort');

    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      i.signal.removeEventListener('abort', onAbort);
      fn();
    };

    proc.stdout?.on('data', (c: Buffer) => i.capture.write('stdout', c));
    proc.stderr?.on('data', (c: Buffer) => i.capture.write('stderr', c));
    if (i.statusFd !== undefined) {
      readStatus(proc.stdio[i.statusFd] as Readable, (code) => (reportedExit = code));
    }
    proc.stdin?.on('error', () => undefined); // EPIPE: the command did not read its stdin
    proc.stdin?.end(i.stdin ?? '');

    proc.on('error', (err) => {
      killGroup();
      done(() => reject(ExecError.unavailable(`could not start ${i.file}: ${err.message}`, err)));
    });
    proc.on('exit', (code, signal) => {
      exited = { code, signal, at: Date.now() };
      killGroup();
      grace = setTimeout(() => {
        proc.stdout?.destroy();
        proc.stderr?.destroy();
      }, CLOSE_GRACE_MS);
      grace.unref();
    });
    proc.on('close', () => {
      const end = exited ?? { code: null, signal: null, at: Date.now() };
      done(() =>
        resolve({
          code: end.code,
          signal: end.signal,
          durationMs: end.at - started,
          ...(killed ? { killed } : {}),
          ...(reportedExit === undefined ? {} : { reportedExit }),
        }),
      );
    });
  });
}

function readStatus(stream: Readable, onExit: (code: number) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    buf += text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const msg = JSON.parse(line) as { 'exit-code'?: unknown };
        if (typeof msg['exit-code'] === 'number') onExit(msg['exit-code']);
      } catch {
        /* not a status line we know */
      }
    }
  });
  stream.on('error', () => undefined);
}
