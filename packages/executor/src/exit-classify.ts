import { constants } from 'node:os';
import { ExecError } from './exec-errors';
import type { SandboxLimits } from './sandbox-command';

/**
 * How a command that came to an end is reported, decided from what can honestly be seen
 * without a cgroup: its exit status (a signal death as 128 + the signal, as shells and bwrap
 * report it) and the end of its stderr.
 *
 * - Out of memory: RLIMIT_DATA makes an allocation fail; the program then dies in its own way.
 *   It counts as exec_oom when the status is non-zero AND the end of stderr carries a known
 *   out-of-memory message (Python's MemoryError, V8's "heap out of memory" / "Fatal process
 *   out of memory", std::bad_alloc, ENOMEM's "Cannot allocate memory", "out of memory"). A
 *   program that swallows the failure and exits quietly is a plain non-zero result; a program
 *   that prints "out of memory" for another reason and fails is misread as OOM.
 * - SIGXCPU (152): the CPU-time soft limit, reported as exec_timeout (CPU time, not wall time).
 * - SIGXFSZ (153), SIGSEGV (139: what some runtimes do when an allocation is refused) and a
 *   SIGKILL the executor did not send (137: the CPU hard limit, or the host's OOM killer) stay results the model can read, with one line naming the cause appended to
 *   stderr: the program is often killed before it can say anything.
 */

export type Outcome = { kind: 'exit'; exitCode: number; notice?: string } | { kind: 'error'; error: ExecError };

const OOM_MESSAGES = [
  /\bMemoryError\b/,
  /JavaScript heap out of memory/,
  /Fatal (process|JavaScript) (out of memory|OOM)/i,
  /std::bad_alloc/,
  /Cannot allocate memory/i,
  /\bout of memory\b/i,
];

const SIGXCPU = 128 + constants.signals.SIGXCPU;
const SIGXFSZ = 128 + constants.signals.SIGXFSZ;
const SIGKILL = 128 + constants.signals.SIGKILL;
const SIGSEGV = 128 + constants.signals.SIGSEGV;

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : constants.signals[signal];
  return 128 + (n ?? 0);
}

/** `stderr`: what was kept of it (its head and its tail). */
export function classifyExit(exitCode: number, stderr: string, limits: SandboxLimits): Outcome {
  if (exitCode === 0) return { kind: 'exit', exitCode };
  if (OOM_MESSAGES.some((re) => re.test(stderr))) return { kind: 'error', error: ExecError.oom(limits.memoryBytes) };
  if (exitCode === SIGXCPU) {
    return {
      kind: 'error',
      error: new ExecError('exec_timeout', `the command used more than ${limits.cpuSeconds}s of CPU time and was killed`, false),
    };
  }
  if (exitCode === SIGXFSZ) {
    return { kind: 'exit', exitCode, notice: `agentyard: killed by SIGXFSZ: a file passed ${mib(limits.fileBytes)} MiB (EXECUTOR_FILE_MAX_MB)` };
  }
  if (exitCode === SIGKILL) {
    return {
      kind: 'exit',
      exitCode,
      notice: 'agentyard: killed by SIGKILL, not by the executor (the CPU-time hard limit, or the host ran out of memory)',
    };
  }
  if (exitCode === SIGSEGV) {
    return { kind: 'exit', exitCode, notice: 'agentyard: killed by SIGSEGV (an allocation refused under the memory limit can end this way)' };
  }
  return { kind: 'exit', exitCode };
}

function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
