import { CapReachedError, WorkspaceFullError } from '@agentyard/core';
import { toBuffer, type Workspace } from './workspace';

/** Where a tenant's workspace usage is counted (packages/runs' WorkspaceUsage meets it). */
export interface UsageMeter {
  reserve(
    tenant: string,
    key: string,
    size: number,
    caps: { files: number; bytes: number },
  ): Promise<{ ok: true; previous: number } | { ok: false; cap: 'files' | 'bytes'; used: number }>;
  set(tenant: string, key: string, size: number): Promise<void>;
}

export interface WorkspaceCaps {
  /** max_workspace_files; Infinity: none. */
  files: number;
  /** max_workspace_bytes; Infinity: none. */
  bytes: number;
}

/**
 * The store as a tenant's tools see it, with max_workspace_files and max_workspace_bytes: each
 * write is counted (checked and reserved atomically) before it reaches the driver, a write
 * that fails puts the count back, and a delete takes the file out. Put it under scopeWorkspace
 * so it counts whole store keys. Only tool writes go through it: run archives are the
 * service's record of a run and are never refused.
 */
export function meterWorkspace(ws: Workspace, opts: { meter: UsageMeter; tenant: string; caps: WorkspaceCaps }): Workspace {
  const { meter, tenant, caps } = opts;
  // Delegates by name: the drivers are classes, whose methods a spread would not copy.
  return {
    read: (path, o) => ws.read(path, o),
    stat: (path) => ws.stat(path),
    list: (prefix, o) => ws.list(prefix, o),
    ping: () => ws.ping(),
    async write(path, body, o) {
      const size = toBuffer(body).length;
      const r = await meter.reserve(tenant, path, size, caps);
      if (!r.ok) {
        if (r.cap === 'files') {
          throw new CapReachedError(
            'max_workspace_files',
            `tenant ${tenant} keeps ${r.used} files in its workspaces, its max_workspace_files; delete some (fs.delete) or ask an operator to raise the cap`,
            60,
            false,
          );
        }
        throw new WorkspaceFullError(
          `writing ${size} bytes would take tenant ${tenant} past its max_workspace_bytes (${caps.bytes}; ${r.used} used); delete files or ask an operator to raise the cap`,
        );
      }
      try {
        return await ws.write(path, body, o);
      } catch (err) {
        // What is stored is unknown after a failed write; the previous count is the best guess.
        await meter.set(tenant, path, r.previous).catch(() => undefined);
        throw err;
      }
    },
    async delete(path) {
      const existed = await ws.delete(path);
      await meter.set(tenant, path, -1);
      return existed;
    },
  };
}
