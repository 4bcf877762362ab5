import type { SessionArchive } from './session-archive';
import type { ArchiveRecordRef, SessionStore } from './session-store';
import type { Invocation, Session } from './session-types';

export interface SessionArchiver {
  /** Writes the session's archive; a failure keeps the record in Redis for a retry, never the caller's error. */
  session(s: Session): Promise<void>;
  invocation(inv: Invocation, workspaceId: string): Promise<void>;
  /** Writes archives that failed earlier (the workers call it every WORKER_ARCHIVE_RETRY_S). */
  retryPending(limit: number): Promise<{ archived: number }>;
}

/**
 * Archives sessions and invocations as they change, like runs: when storage is down the
 * record stays in Redis without a TTL (archivePending) until a worker's retry wrote it, so a
 * record is never lost between a Redis TTL and a missing archive.
 */
export function createSessionArchiver(opts: { store: SessionStore; archive: SessionArchive; onError(what: string, err: unknown): void }): SessionArchiver {
  const { store, archive } = opts;
  const attempt = async (ref: ArchiveRecordRef, write: () => Promise<void>) => {
    try {
      await write();
    } catch (err) {
      opts.onError(`${ref.kind} ${ref.id}`, err);
      // Redis down as well: nothing more to do here; the record keeps its TTL.
      await store.archivePending(ref).catch(() => undefined);
    }
  };
  return {
    session: (s) => attempt({ kind: 'session', tenant: s.tenant, id: s.id }, () => archive.writeSession(s)),
    invocation: (inv, ws) => attempt({ kind: 'invocation', id: inv.id, workspace_id: ws }, () => archive.writeInvocation(inv, ws)),
    async retryPending(limit) {
      let archived = 0;
      for (const ref of await store.pendingArchives(limit)) {
        const record = ref.kind === 'session' ? await store.session(ref.tenant, ref.id) : await store.invocation(ref.id);
        if (record) {
          try {
            if (ref.kind === 'session') await archive.writeSession(record as Session);
            else await archive.writeInvocation(record as Invocation, ref.workspace_id);
          } catch {
            continue; // still down: the next sweep tries again
          }
          archived += 1;
        }
        await store.archiveDone(ref);
      }
      return { archived };
    },
  };
}
