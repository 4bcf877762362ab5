import type { Workspace } from '@agentyard/workspace';

export type DirectoryEntry =
  | { path: string; type: 'file'; size: number; modified: string }
  | { path: string; type: 'directory' };

export interface DirectoryListing {
  entries: DirectoryEntry[];
  /** More entries exist than `limit` (or than a scan of MAX_SCANNED_KEYS keys could tell). */
  truncated: boolean;
}

/** Keys asked for per workspace call (the most one S3 call returns). */
const PAGE = 1000;
/**
 * Keys read at most to list one directory. Workspaces store flat keys, so the files deep in
 * subdirectories are read too; past this the listing stops and says `truncated`.
 */
export const MAX_SCANNED_KEYS = 100_000;

const byKey = (a: DirectoryEntry, b: DirectoryEntry) => Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8'));

/**
 * What `ls` shows: the files directly in `dir` (`''` is the root) and its subdirectories, each
 * once, sorted by the UTF-8 bytes of the path; or with `recursive`, every file below it.
 * Directories are implied by the keys below them (as on S3). Subdirectories are remembered in a
 * set rather than assumed contiguous: S3 returns keys in byte order, but not every
 * S3-compatible store does (s3rver lists `b/c` before `b-x`).
 */
export async function listDirectory(
  ws: Workspace,
  dir: string,
  opts: { recursive: boolean; limit: number; signal?: AbortSignal; /** @default 1000 */ pageSize?: number },
): Promise<DirectoryListing> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  if (opts.recursive) {
    const page = await ws.list(dir, { limit: opts.limit, ...signal });
    return { entries: page.entries.map((e) => ({ ...e, type: 'file' as const })), truncated: page.next_cursor !== undefined };
  }
  const base = dir === '' ? '' : `${dir}/`;
  const entries: DirectoryEntry[] = [];
  const dirs = new Set<string>();
  let cursor: string | undefined;
  let scanned = 0;
  for (;;) {
    const page = await ws.list(dir, { limit: opts.pageSize ?? PAGE, ...(cursor === undefined ? {} : { cursor }), ...signal });
    for (const e of page.entries) {
      const rest = e.path.slice(base.length);
      const slash = rest.indexOf('/');
      const sub = slash === -1 ? undefined : `${base}${rest.slice(0, slash)}`;
      if (sub !== undefined && dirs.has(sub)) continue;
      if (entries.length === opts.limit) return { entries: entries.sort(byKey), truncated: true };
      if (sub === undefined) entries.push({ path: e.path, type: 'file', size: e.size, modified: e.modified });
      else {
        entries.push({ path: sub, type: 'directory' });
        dirs.add(sub);
      }
    }
    scanned += page.entries.length;
    if (page.next_cursor === undefined) return { entries: entries.sort(byKey), truncated: false };
    if (scanned >= MAX_SCANNED_KEYS) return { entries: entries.sort(byKey), truncated: true };
    cursor = page.next_cursor;
  }
}
