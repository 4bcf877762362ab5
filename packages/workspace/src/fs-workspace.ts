import { randomBytes } from 'node:crypto';
import { constants, lstatSync, type Stats } from 'node:fs';
import { access, lstat, mkdir, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentyardError, NotFoundError, UnavailableError, ValidationError } from '@agentyard/core';
import { normaliseListPrefix, normalisePath, pathProblem, RESERVED_SEGMENT_PREFIX } from './normalise-path';
import {
  resolveListLimit,
  storeRefused,
  toBuffer,
  type ListOptions,
  type ListPage,
  type Workspace,
  type WorkspaceEntry,
  type WriteOptions,
} from './workspace';

/**
 * The filesystem driver, the embedded default on a laptop. Beyond the Workspace contract:
 *
 * - Writes go to a temp file in the target's directory and are renamed over it, so a reader
 *   sees the old file or the new one, never half of one. (No fsync: the promise is atomicity
 *   towards readers, not durability across a power cut.) Temp files never appear in `list`.
 * - Symbolic links are not workspace files: `read`, `stat`, `delete` and `list` treat them as
 *   absent, and `write` refuses to create anything through a linked directory, so a link
 *   planted in the directory (by a shell tool, say) cannot lead a path outside `dir`. A link
 *   swapped in between our check and our open is not covered; this driver is not a sandbox.
 * - Directories are implied, as on S3, but not removed when they empty, so writing `a` after
 *   deleting `a/b` finds a directory in the way and is refused, where S3 would accept it.
 */

// Temp names are reserved in every path (normalise-path), so no client file can look like one.
const TEMP_PREFIX = RESERVED_SEGMENT_PREFIX;
// What open/lstat say when a path, or the directory it would be in, is not there.
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);
const REFUSED = new Set(['EACCES', 'EPERM', 'EROFS']);

type Parent = { dir: string } | { missing: true } | { blocked: string };

export interface FsWorkspaceOptions {
  /** Directory that holds the files; created on the first write or ping. */
  dir: string;
}

export class FsWorkspace implements Workspace {
  private readonly dir: string;
  private rootReady: Promise<void> | undefined;

  constructor(opts: FsWorkspaceOptions) {
    this.dir = resolve(opts.dir);
  }

  async write(path: string, body: Buffer | string, opts: WriteOptions = {}): Promise<{ size: number }> {
    const key = normalisePath(path);
    const bytes = toBuffer(body);
    const { signal } = opts;
    signal?.throwIfAborted();
    return this.guard('write', key, signal, async () => {
      // Once per instance (and again should it vanish): every write paid for it before.
      this.rootReady ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
      await this.rootReady.catch((err: unknown) => {
        this.rootReady = undefined;
        throw err;
      });
      const segments = key.split('/');
      const name = segments.pop() as string;
      const parent = await this.parentOf(segments, true);
      if ('blocked' in parent) throw ValidationError.field('path', parent.blocked);
      if (!('dir' in parent)) throw new UnavailableError(`a directory for ${key} vanished while it was created`);
      const temp = join(parent.dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
      try {
        // 'wx' fails rather than follow a link that happens to sit at the temp name.
        await writeFile(temp, bytes, { flag: 'wx', signal });
        await rename(temp, join(parent.dir, name));
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        if (errno(err) === 'EISDIR') throw ValidationError.field('path', 'names a directory, not a file');
        throw err;
      }
      return { size: bytes.length };
    });
  }

  async read(path: string, opts: { signal?: AbortSignal } = {}): Promise<Buffer> {
    const key = normalisePath(path);
    const { signal } = opts;
    signal?.throwIfAborted();
    return this.guard('read', key, signal, async () => {
      const file = await this.locate(key);
      if (file === undefined) throw new NotFoundError('file', key);
      let handle;
      try {
        // O_NOFOLLOW: a link at the last segment fails with ELOOP instead of being followed.
        handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        if (ABSENT.has(errno(err))) throw new NotFoundError('file', key);
        throw err;
      }
      try {
        if (!(await handle.stat()).isFile()) throw new NotFoundError('file', key);
        return await handle.readFile({ signal });
      } finally {
        await handle.close();
      }
    });
  }

  async stat(path: string): Promise<WorkspaceEntry | undefined> {
    const key = normalisePath(path);
    return this.guard('stat', key, undefined, async () => {
      const file = await this.locate(key);
      const st = file === undefined ? undefined : await lstatIfPresent(file);
      return st?.isFile() ? toEntry(key, st) : undefined;
    });
  }

  async delete(path: string): Promise<boolean> {
    const key = normalisePath(path);
    return this.guard('delete', key, undefined, async () => {
      const file = await this.locate(key);
      const st = file === undefined ? undefined : await lstatIfPresent(file);
      if (file === undefined || !st?.isFile()) return false;
      try {
        await unlink(file);
        return true;
      } catch (err) {
        if (errno(err) === 'ENOENT') return false; // deleted concurrently: it is gone, not by us
        throw err;
      }
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    const pre = normaliseListPrefix(prefix);
    const limit = resolveListLimit(opts.limit);
    const { signal } = opts;
    signal?.throwIfAborted();
    return this.guard('list', pre, signal, async () => {
      const start = pre === '' ? { dir: this.dir } : await this.parentOf(pre.split('/'), false);
      if (!('dir' in start)) return { entries: [] };
      const after = opts.cursor === undefined ? undefined : Buffer.from(opts.cursor, 'utf8');
      const keys: Candidate[] = [];
      await collect(start.dir, pre, after, keys, signal);
      keys.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
      const page = keys.slice(0, limit);
      const stats = await Promise.all(page.map((k) => lstatIfPresent(join(this.dir, k.key))));
      const entries: WorkspaceEntry[] = [];
      page.forEach((k, i) => {
        const st = stats[i];
        // A file deleted between the walk and the stat is simply not listed.
        if (st?.isFile()) entries.push(toEntry(k.key, st));
      });
      const last = page[page.length - 1];
      return keys.length > limit && last ? { entries, next_cursor: last.key } : { entries };
    });
  }

  async ping(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await access(this.dir, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new UnavailableError(`filesystem workspace at ${this.dir} is not usable: ${message(err)}`, err);
    }
  }

  /** Absolute path of `key` when every directory on the way is a real directory. */
  private async locate(key: string): Promise<string | undefined> {
    const segments = key.split('/');
    const name = segments.pop() as string;
    const parent = await this.parentOf(segments, false);
    return 'dir' in parent ? join(parent.dir, name) : undefined;
  }

  /**
   * Walks `segments` down from `dir` one lstat at a time (creating what is missing when
   * `create`), so no link or file on the way is silently passed through. `mkdir -p` would
   * follow a linked directory and create the rest wherever it points.
   *
   * The lstats are synchronous on purpose: on a local disk one costs about 2 µs of CPU, where
   * the promise version's trip through libuv's pool costs about 35 µs (measured on the bench
   * host), and a run's archive makes a dozen: they were the largest item of the worker's
   * profile. mkdir stays asynchronous: the kernel's own work to create a directory (about
   * 300 µs on an overlay filesystem) must not stall the event loop. A workspace on a network
   * filesystem would stall it on every lstat; that is the S3 driver's job.
   */
  private async parentOf(segments: string[], create: boolean): Promise<Parent> {
    let cur = this.dir;
    // Below a directory this call created, nothing can exist yet: mkdir straight away, and
    // look (lstat) only when mkdir finds something there after all (EEXIST: a concurrent
    // writer, or a link planted meanwhile, which the lstat then refuses).
    let fresh = false;
    for (const segment of segments) {
      cur = join(cur, segment);
      if (fresh && create) {
        if (await mkdirIfAbsent(cur)) continue;
        fresh = false;
      }
      let st = lstatIfPresentSync(cur);
      if (st === undefined && create) {
        // A directory mkdir just made is a directory: no second look needed.
        fresh = await mkdirIfAbsent(cur);
        if (fresh) continue;
        st = lstatIfPresentSync(cur); // a concurrent writer made it first
      }
      if (st === undefined) return { missing: true };
      if (st.isSymbolicLink()) {
        return { blocked: 'passes through a symbolic link, which the workspace does not follow' };
      }
      if (!st.isDirectory()) return { blocked: 'has a file where a parent directory should be' };
    }
    return { dir: cur };
  }

  private async guard<T>(op: string, key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      signal?.throwIfAborted();
      if (err instanceof AgentyardError) throw err;
      // Node's errno messages quote the absolute path; the message can reach a tenant (a step's
      // error), so the server's directory layout is cut out. The cause keeps it for the logs.
      const what = `filesystem workspace could not ${op} ${key || '/'}: ${message(err).split(`${this.dir}/`).join('').split(this.dir).join('/')}`;
      throw REFUSED.has(errno(err)) ? storeRefused(what, err) : new UnavailableError(what, err);
    }
  }
}

interface Candidate {
  key: string;
  bytes: Buffer;
}

/**
 * Gathers every file key under `dir` (named `base/...`) that sorts after `after`. A directory
 * whose whole subtree sorts before the cursor is not entered, so later pages of a large tree
 * skip most of the walk.
 */
async function collect(
  dir: string,
  base: string,
  after: Buffer | undefined,
  out: Candidate[],
  signal: AbortSignal | undefined,
): Promise<void> {
  signal?.throwIfAborted();
  let dirents;
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (ABSENT.has(errno(err))) return; // removed while we walked
    throw err;
  }
  for (const d of dirents) {
    const key = base === '' ? d.name : `${base}/${d.name}`;
    // Names a path could never address (made by hand or by a shell tool) are not listed.
    if (pathProblem(key) !== undefined) continue;
    const bytes = Buffer.from(key, 'utf8');
    if (d.isDirectory()) {
      if (after && subtreeBefore(Buffer.from(`${key}/`, 'utf8'), after)) continue;
      await collect(join(dir, d.name), key, after, out, signal);
    } else if (d.isFile()) {
      if (!after || Buffer.compare(bytes, after) > 0) out.push({ key, bytes });
    }
  }
}

/** True when every key starting with `dirPrefix` sorts at or before `cursor`. */
function subtreeBefore(dirPrefix: Buffer, cursor: Buffer): boolean {
  return Buffer.compare(dirPrefix, cursor) < 0 && !cursor.subarray(0, dirPrefix.length).equals(dirPrefix);
}

function lstatIfPresentSync(p: string): Stats | undefined {
  try {
    // No exception (an Error with a stack) for the common absent case: a new run's archive
    // looks at a missing directory on each of its writes.
    return lstatSync(p, { throwIfNoEntry: false });
  } catch (err) {
    if (ABSENT.has(errno(err))) return undefined;
    throw err;
  }
}

/** True when it made the directory, false when something is there already. */
async function mkdirIfAbsent(p: string): Promise<boolean> {
  try {
    await mkdir(p);
    return true;
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
    return false;
  }
}

async function lstatIfPresent(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if (ABSENT.has(errno(err))) return undefined;
    throw err;
  }
}

function toEntry(key: string, st: Stats): WorkspaceEntry {
  return { path: key, size: st.size, modified: st.mtime.toISOString() };
}

function errno(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
