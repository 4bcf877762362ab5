import { constants } from 'node:fs';
import { access, chmod, chown, lstat, mkdir, mkdtemp, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { ExecutorConfigError } from './executor-config-error';
import { DEFAULT_EXEC_LIMITS, type ExecLimits } from './executor';
import { LocalProcessExecutor, type ResolvedLocalOptions } from './local-process-executor';
import { createOutputCapture } from './output-capture';
import { bwrapArgs, prlimitArgs, SANDBOX_PATH, sandboxEnv, STATUS_FD, SYSTEM_PATHS, type HostPath } from './sandbox-command';
import { superviseProcess } from './supervise-process';

export interface LocalProcessExecutorOptions {
  /** @default DEFAULT_EXEC_LIMITS */
  limits?: ExecLimits;
  /**
   * Run commands as plain child processes, without bubblewrap (EXECUTOR_UNSANDBOXED=true):
   * the same scrubbed environment, limits and process-group kill, but the command sees the
   * host's files and network with the worker's (or, as root, the nobody user's) rights.
   * Only for a trusted laptop. @default false
   */
  unsandboxed?: boolean;
  /** @default `bwrap` found on `searchPath` */
  bwrapPath?: string;
  /** PATH searched for bwrap. @default process.env.PATH */
  searchPath?: string;
  /** Parent of the per-command temp directories. @default os.tmpdir() */
  tmpDir?: string;
  /** Host user the command runs as when the worker is root. @default 65534 (nobody) */
  sandboxUser?: { uid: number; gid: number };
  /** Extra host directories bound read-only (say, an interpreter under /opt). @default none */
  readOnlyPaths?: string[];
  /** Where the unsandboxed warning goes. @default process.stderr */
  warn?(message: string): void;
}

const PROBE_TIMEOUT_S = 15;

const INSTALL_HINT =
  'install it with `apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora), ' +
  'or set EXECUTOR_UNSANDBOXED=true to run commands without a sandbox on a trusted machine';

/**
 * The LocalProcessExecutor after checking, once at start-up, that its sandbox really runs a
 * command here (bwrap present, user namespaces allowed, prlimit inside): otherwise an
 * ExecutorConfigError saying how to fix it, so no run is taken that could only fail.
 */
export async function createLocalProcessExecutor(opts: LocalProcessExecutorOptions = {}): Promise<LocalProcessExecutor> {
  const searchPath = opts.searchPath ?? process.env.PATH ?? SANDBOX_PATH;
  const tmpDir = opts.tmpDir ?? tmpdir();
  const limits = opts.limits ?? DEFAULT_EXEC_LIMITS;
  const isRoot = process.getuid?.() === 0;
  const runAs = isRoot ? (opts.sandboxUser ?? { uid: 65534, gid: 65534 }) : undefined;
  // Looked up where the sandbox looks: the command runs it from inside.
  const prlimitPath = await findExecutable('prlimit', SANDBOX_PATH);
  if (!prlimitPath) {
    throw new ExecutorConfigError('EXECUTOR=local needs prlimit (util-linux) to limit commands: install it with `apt-get install util-linux`');
  }
  const base = { limits, prlimitPath, tmpDir, ...(runAs ? { runAs } : {}) };

  if (opts.unsandboxed) {
    (opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`)))(
      'WARNING: EXECUTOR_UNSANDBOXED=true: shell and code tools run WITHOUT a sandbox. Commands see the network and every ' +
        'host file readable by ' +
        (runAs ? `uid ${runAs.uid}` : 'the worker user') +
        '; only the environment is scrubbed and limits applied. Use it only on a trusted machine.',
    );
    return new LocalProcessExecutor({ ...base, unsandboxed: true, bwrapPath: '', hostPaths: [] });
  }

  const bwrapPath = opts.bwrapPath ?? (await findExecutable('bwrap', searchPath));
  if (!bwrapPath || !(await isExecutable(bwrapPath))) {
    throw new ExecutorConfigError(`EXECUTOR=local runs commands under bubblewrap, and bwrap was not found${opts.bwrapPath ? ` at ${opts.bwrapPath}` : ' on PATH'}: ${INSTALL_HINT}`);
  }
  const hostPaths = await discoverHostPaths([...SYSTEM_PATHS, ...(opts.readOnlyPaths ?? [])]);
  const resolved: ResolvedLocalOptions = { ...base, unsandboxed: false, bwrapPath, hostPaths };
  await probe(resolved);
  return new LocalProcessExecutor(resolved);
}

/** Runs `true` in a real sandbox; refuses with bwrap's own words when it cannot. */
async function probe(o: ResolvedLocalOptions): Promise<void> {
  const box = await mkdtemp(join(o.tmpDir, 'ay-exec-probe-'));
  const capture = createOutputCapture({ limits: { outputBytes: 4096, fileBytes: 4096 }, tmpDir: o.tmpDir });
  try {
    const work = join(box, 'work');
    await mkdir(work);
    if (o.runAs) {
      await chmod(box, 0o711);
      await chown(work, o.runAs.uid, o.runAs.gid);
    }
    const limits = { memoryBytes: o.limits.memoryBytes, cpuSeconds: PROBE_TIMEOUT_S, fileBytes: o.limits.fileBytes, processes: o.limits.processes };
    const run = await superviseProcess({
      file: o.bwrapPath,
      args: [...bwrapArgs({ hostPaths: o.hostPaths, workDir: work, cwd: '', uid: 65534, gid: 65534 }), o.prlimitPath, ...prlimitArgs(limits), 'true'],
      env: sandboxEnv({ home: '/tmp', tmp: '/tmp' }, o.limits.memoryBytes),
      cwd: '/',
      timeoutMs: PROBE_TIMEOUT_S * 1000,
      signal: new AbortController().signal,
      capture,
      statusFd: STATUS_FD,
      ...(o.runAs ?? {}),
    }).catch((err: unknown) => {
      throw new ExecutorConfigError(`EXECUTOR=local could not start bwrap (${o.bwrapPath}): ${(err as Error).message}; ${INSTALL_HINT}`, err);
    });
    const said = capture.finish().tails.stderr.trim();
    if (run.reportedExit !== 0 && o.runAs && /source path .*Permission denied/.test(said)) {
      throw new ExecutorConfigError(
        `EXECUTOR=local: the sandbox user (uid ${o.runAs.uid}) cannot reach its directory under ${o.tmpDir}; ` +
          'every directory on the way must be searchable by it (chmod o+x), as /tmp is',
      );
    }
    if (run.reportedExit !== 0) {
      throw new ExecutorConfigError(
        `EXECUTOR=local: bubblewrap is installed but cannot run a sandbox here (${said || `exit ${run.code ?? run.signal}`}). ` +
          'It needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; ' +
          'on Ubuntu 24.04 an AppArmor profile for bwrap), or set EXECUTOR_UNSANDBOXED=true on a trusted machine',
      );
    }
  } finally {
    capture.dispose();
    await rm(box, { recursive: true, force: true });
  }
}

/** System directories as they are on this host: bound when a directory, recreated when a link (merged /usr). */
async function discoverHostPaths(paths: string[]): Promise<HostPath[]> {
  const out: HostPath[] = [];
  for (const path of paths) {
    if (!isAbsolute(path)) throw new ExecutorConfigError(`a read-only sandbox path must be absolute: ${path}`);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isDirectory()) out.push({ path, kind: 'dir' });
    else if (st?.isSymbolicLink()) out.push({ path, kind: 'link', target: await readlink(path) });
  }
  return out;
}

async function findExecutable(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await lstat(path)).isFile() || (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}
