import { NotFoundError, ValidationError } from '@agentyard/core';
import { normaliseListPrefix, normalisePath } from './normalise-path';
import type { ListOptions, ListPage, Workspace, WorkspaceEntry, WriteOptions } from './workspace';

/**
 * A workspace is a key prefix of one store. `scopeWorkspace` is the only place that prefix is
 * added or removed: callers (tools, the files routes) speak paths relative to the workspace,
 * validated here before the root is joined, so no relative path can reach a sibling's keys.
 * Roots are compared as whole segments (`a/` never matches `ab/...`) because the drivers list
 * `prefix/`, not `prefix`.
 */

/** `tenants/<tenant>/workspaces/<workspaceId>`; each part must be one valid path segment. */
export function workspaceRoot(tenant: string, workspaceId: string): string {
  return `tenants/${segment(tenant, 'tenant')}/workspaces/${segment(workspaceId, 'workspace_id')}`;
}

/** `tenants/<tenant>`: the tenant's own keys outside every workspace (session archive pointers). */
export function tenantRoot(tenant: string): string {
  return `tenants/${segment(tenant, 'tenant')}`;
}

function segment(value: string, field: string): string {
  if (typeof value === 'string' && value.includes('/')) {
    throw ValidationError.field(field, 'must be a single path segment, without "/"');
  }
  return normalisePath(value, field);
}

export function scopeWorkspace(ws: Workspace, root: string): Workspace {
  const base = normalisePath(root, 'root');
  const within = (rel: string): string => `${base}/${rel}`;
  const strip = (key: string): string => key.slice(base.length + 1);
  // Errors name files as the caller knows them; the root (tenant and all) is ours to keep.
  const hideRoot = (err: unknown): never => {
    if (err instanceof Error) err.message = err.message.split(`${base}/`).join('').split(base).join('/');
    throw err;
  };

  return {
    async write(path: string, body: Buffer | string, opts?: WriteOptions): Promise<{ size: number }> {
      return ws.write(within(normalisePath(path)), body, opts).catch(hideRoot);
    },

    async read(path: string, opts?: { signal?: AbortSignal }): Promise<Buffer> {
      const rel = normalisePath(path);
      try {
        return await ws.read(within(rel), opts);
      } catch (err) {
        if (err instanceof NotFoundError) throw new NotFoundError('file', rel);
        return hideRoot(err);
      }
    },

    async stat(path: string): Promise<WorkspaceEntry | undefined> {
      const rel = normalisePath(path);
      const entry = await ws.stat(within(rel)).catch(hideRoot);
      return entry && { ...entry, path: rel };
    },

    async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
      const rel = normaliseListPrefix(prefix);
      const page = await ws
        .list(rel === '' ? base : within(rel), {
          ...opts,
          cursor: opts.cursor === undefined ? undefined : within(opts.cursor),
        })
        .catch(hideRoot);
      const entries = page.entries
        // The prefix already guarantees this; the filter keeps a driver bug from leaking keys.
        .filter((e) => e.path.startsWith(`${base}/`))
        .map((e) => ({ ...e, path: strip(e.path) }));
      return page.next_cursor === undefined ? { entries } : { entries, next_cursor: strip(page.next_cursor) };
    },

    async delete(path: string): Promise<boolean> {
      return ws.delete(within(normalisePath(path))).catch(hideRoot);
    },

    ping: () => ws.ping(),
  };
}
