import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NotFoundError, ValidationError } from '@agentyard/core';
import { pathProblem, type Workspace, type WorkspaceEntry } from '@agentyard/workspace';
import { ExecError } from './exec-errors';
import type { ExecLimits, FileChange } from './executor';

/**
 * Moving a run's workspace into a sandbox directory and what the command changed back out,
 * shared by every executor (the local one works on the directory it binds; the Kubernetes one
 * tars the directory for the pod and untars the pod's upload into a fresh one).
 *
 * - `.agent/` is never copied in, and nothing under it is written back. It holds the run's
 *   archive (run.json, event segments) and the full output of earlier commands; those are the
 *   engine's record of the run, not the program's to read or rewrite. A program that needs an
 *   earlier output reads it with fs.read and passes it in. Its sizes do not count to the limits.
 * - Size limits are checked on the listing (sum of sizes, number of files) before any file is
 *   copied, so an oversized workspace costs one listing, not a half-filled disk.
 * - Changes are found by content (size, then SHA-256), not by mtime: a rewrite with the same
 *   bytes is no change, and a change that keeps the mtime is still one.
 * - Only regular files inside `dir` go back. Symbolic links, sockets, fifos and devices are
 *   skipped and reported through `onSkip` (a link could name a file of the host; the others
 *   have no bytes to store). Each file is opened with O_NOFOLLOW and its descriptor's real path
 *   checked against `dir`, so a directory swapped for a link while we walk cannot lead outside.
 * - Write-back is last-writer-wins per file: a file the command did not change is not written,
 *   so a concurrent step's write to it survives; one both changed ends as the command left it.
 */

/** The directory the run's own record lives in; see the contract above. */
export const AGENT_DIR = '.agent';

export type SyncLimits = Pick<ExecLimits, 'workspaceBytes' | 'workspaceFiles'>;

export interface SnapshotFile {
  size: number;
  /** Hex SHA-256 of the bytes copied in. */
  sha256: string;
}

/** What `materialise` copied, for `collectChanges` to compare against. */
export interface Snapshot {
  files: Map<string, SnapshotFile>;
  bytes: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface CollectOptions {
  /** Bounds what goes back, as it bounds what came in. */
  limits: SyncLimits;
  /** Told about every entry not written back, and why. */
  onSkip?(skipped: SkippedFile): void;
  signal?: AbortSignal;
}

const COPY_CONCURRENCY = 8;
const LIST_PAGE = 1000;

export function isAgentPath(path: string): boolean {
  return path === AGENT_DIR || path.startsWith(`${AGENT_DIR}/`);
}

/**
 * Every workspace file outside `.agent/`, refusing with ExecError.limit as soon as the listing
 * passes a limit (nothing has been copied yet).
 */
export async function listForSandbox(workspace: Workspace, limits: SyncLimits, signal?: AbortSignal): Promise<WorkspaceEntry[]> {
  const out: WorkspaceEntry[] = [];
  let bytes = 0;
  let cursor: string | undefined;
  do {
    signal?.throwIfAborted();
    const page = await workspace.list('', { limit: LIST_PAGE, ...(cursor === undefined ? {} : { cursor }), ...(signal ? { signal } : {}) });
    for (const e of page.entries) {
      if (isAgentPath(e.path)) continue;
      out.push(e);
      bytes += e.size;
      if (out.length > limits.workspaceFiles) {
        throw ExecError.limit(`the workspace holds more than ${limits.workspaceFiles} files (EXECUTOR_WORKSPACE_MAX_FILES); nothing was copied`);
      }
      if (bytes > limits.workspaceBytes) {
        throw ExecError.limit(`the workspace holds more than ${mib(limits.workspaceBytes)} MiB (EXECUTOR_WORKSPACE_MAX_MB); nothing was copied`);
      }
    }
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  return out;
}

/** Copies the workspace (less `.agent/`) into `dir`, which must exist and be empty. */
export async function materialise(workspace: Workspace, dir: string, limits: SyncLimits, signal?: AbortSignal): Promise<Snapshot> {
  const entries = await listForSandbox(workspace, limits, signal);
  const files = new Map<string, SnapshotFile>();
  let bytes = 0;
  await eachLimited(entries, COPY_CONCURRENCY, async (e) => {
    signal?.throwIfAborted();
    let body: Buffer;
    try {
      body = await workspace.read(e.path, signal ? { signal } : {});
    } catch (err) {
      if (err instanceof NotFoundError) return; // deleted since the listing: not part of the snapshot
      throw err;
    }
    const target = join(dir, e.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, body, { flag: 'wx' });
    files.set(e.path, { size: body.length, sha256: sha256(body) });
    bytes += body.length;
  });
  return { files, bytes };
}

interface Found {
  path: string;
  abs: string;
  size: number;
}

/**
 * Writes files created or modified in `dir` back to the workspace and deletes those removed,
 * against `snapshot`. Deletions go first, so a file replaced by a directory of the same name
 * can be written. Returns the changes in path order.
 */
export async function collectChanges(workspace: Workspace, snapshot: Snapshot, dir: string, opts: CollectOptions): Promise<FileChange[]> {
  // The descriptor check compares real paths, so the root must be one too (/tmp may be a link).
  const root = await realpath(dir);
  const skip = (path: string, reason: string) => opts.onSkip?.({ path, reason });
  const found: Found[] = [];
  await walk(root, '', found, skip, opts.signal);

  const total = found.reduce((n, f) => n + f.size, 0);
  if (found.length > opts.limits.workspaceFiles) {
    throw ExecError.limit(`the command left more than ${opts.limits.workspaceFiles} files (EXECUTOR_WORKSPACE_MAX_FILES); nothing was written back`);
  }
  if (total > opts.limits.workspaceBytes) {
    throw ExecError.limit(`the command left more than ${mib(opts.limits.workspaceBytes)} MiB (EXECUTOR_WORKSPACE_MAX_MB); nothing was written back`);
  }

  const present = new Set(found.map((f) => f.path));
  const changes: FileChange[] = [];
  for (const path of snapshot.files.keys()) {
    if (present.has(path)) continue;
    opts.signal?.throwIfAborted();
    await workspace.delete(path);
    changes.push({ path, change: 'deleted' });
  }
  await eachLimited(found, COPY_CONCURRENCY, async (f) => {
    opts.signal?.throwIfAborted();
    const before = snapshot.files.get(f.path);
    const body = await readInside(root, f);
    if (body === undefined) return skip(f.path, 'changed into something other than a regular file while it was read');
    if (before && before.size === body.length && before.sha256 === sha256(body)) return;
    try {
      await workspace.write(f.path, body, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      // The store refuses this one path (a file where the fs driver keeps a directory): the
      // rest still goes back, and the caller hears which did not.
      if (err instanceof ValidationError) return skip(f.path, `the workspace refused it: ${err.message}`);
      throw err;
    }
    changes.push({ path: f.path, change: before ? 'modified' : 'created' });
  });
  return changes.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

async function walk(abs: string, rel: string, out: Found[], skip: (p: string, r: string) => void, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const child = join(abs, name);
    let st: Stats;
    try {
      st = await lstat(child);
    } catch (err) {
      if (errno(err) === 'ENOENT') continue;
      throw err;
    }
    if (isAgentPath(path)) {
      skip(path, `${AGENT_DIR}/ is the run's own record and is never written back`);
      continue;
    }
    if (st.isDirectory()) {
      await walk(child, path, out, skip, signal);
    } else if (st.isSymbolicLink()) {
      skip(path, 'a symbolic link; links are not written back');
    } else if (!st.isFile()) {
      skip(path, 'not a regular file (socket, fifo or device)');
    } else {
      const problem = pathProblem(path);
      if (problem !== undefined) skip(path, `not a valid workspace path: ${problem}`);
      else out.push({ path, abs: child, size: st.size });
    }
  }
}

/**
 * The file's bytes when it is still a regular file reached without any link: O_NOFOLLOW
 * covers the last segment, the descriptor's path in /proc covers the directories on the way.
 */
async function readInside(root: string, f: Found): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(f.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO'].includes(errno(err))) return undefined;
    throw err;
  }
  try {
    // Without /proc (not Linux: only the unsandboxed mode runs there) O_NOFOLLOW is all we have.
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (real !== undefined && real !== join(root, f.path)) return undefined;
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

function errno(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
}
