import { NotFoundError, RUN_ID_PATTERN, type Run, type RunEvent, type RunStatus } from '@agentyard/core';
import type { EventLog, RunHistory } from '@agentyard/events';
import { layeredHistory } from './layered-history';
import { createArchiveReader, runPointerPath, type ArchiveSource } from './run-archive';
import { toRunView, truncateOutput, type StoredRun } from './run-codec';
import { toArchivedListView, toListView, type RunListView } from './run-list-view';
import type { ListingEntry, RunStore } from './run-store';

/** Where the API finds a run: still in Redis, or only in its archive. */
export type LocatedRun =
  | { where: 'redis'; workspace_id: string; status: RunStatus }
  | { where: 'archive'; listing: ListingEntry; workspace_id: string; status: RunStatus };

/**
 * Reads runs for the API whether Redis still holds them or retention moved them to their
 * archive: a client never sees a run vanish. Redis answers first; a run it no longer knows
 * is looked up in its tenant's listing, which names the workspace holding its archive.
 */
export function createRunReader(opts: {
  store: RunStore;
  events: EventLog;
  /** The workspace of a run, scoped to its tenant. */
  archiveSource(tenant: string, workspaceId: string): ArchiveSource;
  /** The tenant's root, where a run in a shared workspace leaves a pointer (runPointerPath). */
  pointerSource?(tenant: string): Pick<ArchiveSource, 'read'>;
}) {
  const { store, events } = opts;
  const archiveOf = (tenant: string, listing: { workspace_id: string }) => createArchiveReader(opts.archiveSource(tenant, listing.workspace_id));

  const historyOf = (tenant: string, found: LocatedRun): RunHistory => {
    if (found.where === 'redis') {
      // Built when first needed: a live run's replay rarely reaches its archive, and every
      // open SSE stream holds its history for as long as it is open.
      const workspaceId = found.workspace_id;
      let reader: ReturnType<typeof archiveOf> | undefined;
      return layeredHistory(events, { events: (runId, q) => (reader ??= archiveOf(tenant, { workspace_id: workspaceId })).events(runId, q) });
    }
    const archive = archiveOf(tenant, found);
    return {
      read: (runId, q) => archive.events(runId, q),
      // The archive holds every event of an ended run: nothing is trimmed from it.
      isExpired: async () => false,
    };
  };

  /** Finds the run without reading it (RunStore.head): a stream, a file request, a ticket. */
  const locate = async (tenant: string, runId: string): Promise<LocatedRun> => {
    const head = await store.head(runId);
    if (head) {
      if (head.tenant !== tenant) throw new NotFoundError('run', runId);
      return { where: 'redis', workspace_id: head.workspace_id, status: head.status };
    }
    return archived(tenant, runId);
  };

  /** A run Redis does not hold: its listing entry, or its archive found by id. */
  const archived = async (tenant: string, runId: string): Promise<Extract<LocatedRun, { where: 'archive' }>> => {
    const listing = (await store.listing(tenant, runId)) ?? (await unlisted(tenant, runId));
    if (!listing) throw new NotFoundError('run', runId);
    return { where: 'archive', listing, workspace_id: listing.workspace_id, status: listing.status };
  };

  /**
   * A run past its tenant's max_listed_runs has left the listing, which named its workspace.
   * A run in a workspace of its own (the default: workspace id = run id) is still found by its
   * id there; one in a shared workspace through the pointer its archive left at the tenant's root.
   */
  const unlisted = async (tenant: string, runId: string): Promise<ListingEntry | undefined> => {
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const workspaceId = (await pointedWorkspace(tenant, runId)) ?? runId;
    const record = (await archiveOf(tenant, { workspace_id: workspaceId }).record(runId)) as Run | undefined;
    if (!record || record.id !== runId || record.workspace_id !== workspaceId) return undefined;
    return { workspace_id: workspaceId, status: record.status, created_at: record.created_at, ...(record.finished_at ? { finished_at: record.finished_at } : {}) };
  };
  const pointedWorkspace = async (tenant: string, runId: string): Promise<string | undefined> => {
    if (!opts.pointerSource) return undefined;
    try {
      const at = JSON.parse((await opts.pointerSource(tenant).read(runPointerPath(runId))).toString('utf8')) as { workspace_id?: unknown };
      return typeof at.workspace_id === 'string' ? at.workspace_id : undefined;
    } catch (err) {
      if ((err as { code?: string }).code === 'not_found') return undefined;
      throw err;
    }
  };

  /** The archived record as the contract shows a run: outputs truncated like a live view. */
  const archivedView = async (tenant: string, runId: string, listing: ListingEntry): Promise<Run> => {
    const record = (await archiveOf(tenant, listing).record(runId)) as Run | undefined;
    if (!record) throw new NotFoundError('run', runId);
    return {
      ...record,
      ...(record.result === undefined ? {} : { result: truncateOutput(record.result) }),
      steps: record.steps.map((s) => (s.output === undefined ? s : { ...s, output: truncateOutput(s.output) })),
    };
  };

  return {
    locate,

    async view(tenant: string, runId: string): Promise<Run> {
      const run = await store.get(runId);
      if (run) {
        if (run.doc.tenant !== tenant) throw new NotFoundError('run', runId);
        return toRunView(run);
      }
      return archivedView(tenant, runId, (await archived(tenant, runId)).listing);
    },

    /** `GET /agent/runs`: list views, archived runs read from their archives. */
    async list(tenant: string, q: { status?: RunStatus; limit: number; cursor?: string }): Promise<{ runs: RunListView[]; next_cursor?: string }> {
      const { entries, next_cursor } = await store.list(tenant, q);
      const runs = await Promise.all(
        entries.map(async (e) => {
          if ('run' in e) return toListView(e.run);
          const record = await archiveOf(tenant, e.archived)
            .record(e.runId)
            .catch(() => undefined); // storage down: the listing still shows the run
          return record ? toArchivedListView(record as unknown as Run) : listingView(tenant, e.runId, e.archived);
        }),
      );
      return { runs, ...(next_cursor ? { next_cursor } : {}) };
    },

    /** Event history after `after`: the archive for what Redis no longer holds, then Redis. */
    async events(tenant: string, runId: string, q: { after?: string; limit: number }): Promise<{ status: RunStatus; events: RunEvent[] }> {
      const found = await locate(tenant, runId);
      return { status: found.status, events: await historyOf(tenant, found).read(runId, q) };
    },

    /** Where a run's history is read from, in the shape SSE replay takes. */
    history: (tenant: string, found: LocatedRun): RunHistory => historyOf(tenant, found),
  };
}
export type RunReader = ReturnType<typeof createRunReader>;

/** When the archive cannot be read (storage down), a list still shows what the listing knows. */
function listingView(tenant: string, id: string, l: ListingEntry): RunListView {
  return {
    id,
    tenant,
    status: l.status,
    workspace_id: l.workspace_id,
    created_at: l.created_at,
    ...(l.finished_at ? { finished_at: l.finished_at } : {}),
    steps: [],
    archive_unavailable: true,
  } as unknown as RunListView;
}
