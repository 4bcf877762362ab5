import { createHash } from 'node:crypto';
import { lookup } from 'mime-types';
import type { InvocationArtifact } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';

/** Artifacts kept per invocation; a command writing more files keeps them, the record lists the first ones. */
const MAX_ARTIFACTS = 1000;

/**
 * The workspace a direct invocation's tool sees, noting every file it writes (fs.write, the
 * files a sandboxed command changed, its kept stdout/stderr): path, size, SHA-256 and content
 * type, for GET /v1/invocations/:id/artifacts. A file written twice is listed once, as last written.
 */
export function recordWrites(ws: Workspace): { workspace: Workspace; artifacts(): InvocationArtifact[] } {
  const written = new Map<string, InvocationArtifact>();
  return {
    workspace: {
      ...ws,
      read: (path, o) => ws.read(path, o),
      stat: (path) => ws.stat(path),
      list: (prefix, o) => ws.list(prefix, o),
      delete: async (path) => {
        const existed = await ws.delete(path);
        written.delete(path);
        return existed;
      },
      ping: () => ws.ping(),
      async write(path, body, o) {
        const r = await ws.write(path, body, o);
        const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
        if (written.has(path) || written.size < MAX_ARTIFACTS) {
          written.set(path, {
            path,
            size: buf.length,
            sha256: createHash('sha256').update(buf).digest('hex'),
            content_type: o?.contentType ?? (lookup(path) || 'application/octet-stream'),
          });
        }
        return r;
      },
    },
    artifacts: () => [...written.values()],
  };
}
