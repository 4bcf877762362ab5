import { NotFoundError } from '@agentyard/core';
import type { ArchiveSource, ArchiveTarget } from './run-archive';
import type { SessionStore } from './session-store';
import type { Invocation, Session } from './session-types';

/**
 * Sessions and invocations archived like runs, into the session's workspace:
 *
 *   .agent/sessions/<session_id>/session.json              the session, rewritten at create and end
 *   .agent/sessions/<session_id>/invocations/<inv_id>.json  each invocation once it ended
 *
 * and a pointer per id at the tenant's root (outside every workspace, so no run lists it):
 * `.agent/sessions/<session_id>.json` and `.agent/invocations/<inv_id>.json` name the
 * workspace (and session) holding the record. An id alone then finds its archive after the
 * Redis record expired (SESSION_RECORD_TTL_S), without a Redis index that would never shrink.
 * Every write is idempotent: the same record again.
 */
export const sessionArchiveDir = (sessionId: string) => `.agent/sessions/${sessionId}`;
const sessionPath = (sessionId: string) => `${sessionArchiveDir(sessionId)}/session.json`;
const invocationPath = (sessionId: string, invocationId: string) => `${sessionArchiveDir(sessionId)}/invocations/${invocationId}.json`;
const sessionPointer = (sessionId: string) => `.agent/sessions/${sessionId}.json`;
const invocationPointer = (invocationId: string) => `.agent/invocations/${invocationId}.json`;

// Ids as the API hands them out: anything else was never archived (and must not reach a path).
const SESSION_ID = /^session-[A-Za-z0-9_-]{1,64}$/;
const INVOCATION_ID = /^inv-[0-9a-f]{16}$/;

type Store = ArchiveTarget & Pick<ArchiveSource, 'read'>;

export interface SessionArchive {
  writeSession(session: Session): Promise<void>;
  writeInvocation(inv: Invocation, workspaceId: string): Promise<void>;
  readSession(tenant: string, sessionId: string): Promise<Session | undefined>;
  readInvocation(tenant: string, invocationId: string): Promise<Invocation | undefined>;
}

export function createSessionArchive(opts: {
  /** The session's workspace, scoped to its tenant. */
  workspace(tenant: string, workspaceId: string): Store;
  /** The tenant's root, where the pointers live. */
  tenantRoot(tenant: string): Store;
}): SessionArchive {
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  const readJson = async <T>(store: Store, path: string): Promise<T | undefined> => {
    try {
      return JSON.parse((await store.read(path)).toString('utf8')) as T;
    } catch (err) {
      if ((err as { code?: string }).code === 'not_found') return undefined;
      throw err;
    }
  };
  const w = { contentType: 'application/json' };
  return {
    async writeSession(s) {
      await opts.workspace(s.tenant, s.workspace_id).write(sessionPath(s.id), json(s), w);
      await opts.tenantRoot(s.tenant).write(sessionPointer(s.id), JSON.stringify({ workspace_id: s.workspace_id }), w);
    },
    async writeInvocation(inv, workspaceId) {
      await opts.workspace(inv.tenant, workspaceId).write(invocationPath(inv.session_id, inv.id), json(inv), w);
      await opts.tenantRoot(inv.tenant).write(invocationPointer(inv.id), JSON.stringify({ session_id: inv.session_id, workspace_id: workspaceId }), w);
    },
    async readSession(tenant, id) {
      if (!SESSION_ID.test(id)) return undefined;
      const at = await readJson<{ workspace_id: string }>(opts.tenantRoot(tenant), sessionPointer(id));
      const s = at && (await readJson<Session>(opts.workspace(tenant, at.workspace_id), sessionPath(id)));
      return s && s.tenant === tenant ? s : undefined;
    },
    async readInvocation(tenant, id) {
      if (!INVOCATION_ID.test(id)) return undefined;
      const at = await readJson<{ session_id: string; workspace_id: string }>(opts.tenantRoot(tenant), invocationPointer(id));
      const inv = at && (await readJson<Invocation>(opts.workspace(tenant, at.workspace_id), invocationPath(at.session_id, id)));
      return inv && inv.tenant === tenant ? inv : undefined;
    },
  };
}

/**
 * Reads sessions and invocations for the API whether Redis still holds them or only their
 * archive does: a client never sees a record vanish when its Redis TTL ends.
 */
export function createSessionReader(opts: { store: SessionStore; archive: SessionArchive }) {
  /** Redis first (another tenant's record is as good as none), then the tenant's own archive. */
  const located =
    <T extends { tenant: string }>(what: string, live: (tenant: string, id: string) => Promise<T | undefined>, archived: (tenant: string, id: string) => Promise<T | undefined>) =>
    async (tenant: string, id: string): Promise<T> => {
      const found = (await live(tenant, id)) ?? (await archived(tenant, id));
      if (!found || found.tenant !== tenant) throw new NotFoundError(what, id);
      return found;
    };
  return {
    session: located<Session>('session', opts.store.session, opts.archive.readSession),
    // Invocation ids are global (random, server-chosen); the tenant check below is what scopes them.
    invocation: located<Invocation>('invocation', (_tenant, id) => opts.store.invocation(id), opts.archive.readInvocation),
  };
}
export type SessionReader = ReturnType<typeof createSessionReader>;
