import type { ExecLimits } from './executor';

/**
 * The command lines of the local sandbox, built purely so they can be read and tested apart
 * from the process handling. What each piece is for:
 *
 * - bwrap: a new mount namespace holding only the host's system directories read-only (/usr,
 *   /etc and the merged-/usr links, not `/`: the worker's checkout, /root, /home, /var and
 *   /tmp stay invisible; the root holding them is remounted read-only), a fresh /proc of its own pid namespace, a minimal /dev, a private
 *   tmpfs /tmp, and the materialised workspace read-write at /workspace. --unshare-all takes
 *   the network (only a loopback of its own), ipc, uts and cgroup namespaces too;
 *   --new-session stops TIOCSTI input injection into a terminal; --die-with-parent kills the
 *   tree when the worker dies. --json-status-fd tells a command's exit from bwrap's own
 *   failure to set the sandbox up.
 * - prlimit inside the sandbox, so RLIMIT_NPROC is counted in the sandbox's own user
 *   namespace (per sandbox, measured: two sandboxes at --nproc=20 each forked 18), not across
 *   every sandbox of the same host uid.
 *   Memory is RLIMIT_DATA, not RLIMIT_AS: V8 reserves gigabytes of address space at start,
 *   so Node cannot even start under a 512 MiB RLIMIT_AS ("Failed to reserve virtual memory
 *   for CodeRange"); RLIMIT_DATA counts the private writable memory a program actually
 *   takes (heap, anonymous mmap). Both are per process: a tree may hold processes x limit.
 *   CPU gets a soft limit (SIGXCPU, which we can name) a second below the hard one (SIGKILL).
 */

export const SANDBOX_WORKDIR = '/workspace';
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';
/** Status lines from bwrap (--json-status-fd) arrive on this descriptor. */
export const STATUS_FD = 3;

/** Top-level host paths bound read-only when present: a directory is bound, a link is recreated. */
export const SYSTEM_PATHS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

export type HostPath = { path: string; kind: 'dir' } | { path: string; kind: 'link'; target: string };

export interface SandboxLimits {
  memoryBytes: number;
  cpuSeconds: number;
  fileBytes: number;
  processes: number;
}

export function sandboxLimits(limits: ExecLimits, timeoutS: number): SandboxLimits {
  return {
    memoryBytes: limits.memoryBytes,
    // The default CPU budget is the step's wall time: a single-threaded program hits the
    // timeout first; a program burning many cores hits this.
    cpuSeconds: Math.max(1, Math.ceil(limits.cpuSeconds ?? timeoutS)),
    fileBytes: limits.fileBytes,
    processes: limits.processes,
  };
}

/** prlimit(1) arguments ending in `--`, the command follows. */
export function prlimitArgs(l: SandboxLimits): string[] {
  return [
    `--cpu=${l.cpuSeconds}:${l.cpuSeconds + 1}`,
    `--data=${l.memoryBytes}`,
    `--fsize=${l.fileBytes}`,
    `--nproc=${l.processes}`,
    // No core files: they would land in the workspace and go back as a file the program never wrote.
    '--core=0',
    '--',
  ];
}

export interface BwrapArgsInput {
  hostPaths: HostPath[];
  /** Host directory holding the materialised workspace. */
  workDir: string;
  /** Working directory relative to the workspace ('' = its root), already validated. */
  cwd: string;
  uid: number;
  gid: number;
}

/** bwrap arguments up to and including `--`; prlimit and the command follow. */
export function bwrapArgs(i: BwrapArgsInput): string[] {
  const args = ['--unshare-all', '--unshare-user', '--die-with-parent', '--new-session', '--uid', String(i.uid), '--gid', String(i.gid)];
  for (const p of i.hostPaths) {
    if (p.kind === 'dir') args.push('--ro-bind', p.path, p.path);
    else args.push('--symlink', p.target, p.path);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  args.push('--bind', i.workDir, SANDBOX_WORKDIR);
  // The sandbox's own root (a tmpfs holding the mount points) last, so nothing lands beside them.
  args.push('--remount-ro', '/');
  args.push('--chdir', i.cwd === '' ? SANDBOX_WORKDIR : `${SANDBOX_WORKDIR}/${i.cwd}`);
  args.push('--json-status-fd', String(STATUS_FD), '--');
  return args;
}

/**
 * The whole environment of a command, built from nothing: the worker's own (API_KEYS, S3 and
 * model keys, REDIS_URL) is never inherited. The request's variables come last and win, so a
 * program may set its own PATH or LANG.
 *
 * NODE_OPTIONS caps V8's heap below the memory limit: with its default heap size Node meets
 * RLIMIT_DATA somewhere inside V8 and dies of SIGSEGV without a word (measured), while at its
 * own heap limit it says "JavaScript heap out of memory", which exit-classify.ts reads as OOM.
 */
export function sandboxEnv(dirs: { home: string; tmp: string }, memoryBytes: number, requested: Record<string, string> = {}): Record<string, string> {
  const heapMb = Math.max(16, Math.floor((memoryBytes / 1024 / 1024) * 0.5));
  return { PATH: SANDBOX_PATH, HOME: dirs.home, TMPDIR: dirs.tmp, LANG: 'C.UTF-8', NODE_OPTIONS: `--max-old-space-size=${heapMb}`, ...requested };
}
