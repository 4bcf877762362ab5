import type Redis from 'ioredis';
import { createEventLog, type EventLog } from '@agentyard/events';
import { createEventArchive, type ArchiveTarget, type EventArchive } from './run-archive';
import type { StoredRun } from './run-codec';
import { createRunFinalizer, type RunFinalizer } from './run-finalizer';
import { createRunStore, type RunStore } from './run-store';

export interface RunEngine {
  store: RunStore;
  events: EventLog;
  archive: EventArchive;
  finalizer: RunFinalizer;
}

/**
 * The run engine as both apps use it: one store, one event log with the same stream cap,
 * the event archive and the finalizer, wired the same way in the API and the worker.
 */
export function createRunEngine(opts: {
  redis: Redis;
  prefix: string;
  /** Events a run keeps in Redis (EVENTS_MAX_LEN); ten times this is the stream's hard cap. */
  eventsMaxLen: number;
  /** RUN_RETENTION_S. */
  retentionS: number;
  archiveTarget(run: StoredRun): ArchiveTarget;
  /** The tenant's root, where pointers to runs in shared workspaces go. */
  pointerTarget?(tenant: string): ArchiveTarget;
  onArchiveError?(runId: string, err: unknown): void;
  onEnded?(run: StoredRun): void;
  now?: () => number;
}): RunEngine {
  const cap = opts.eventsMaxLen * 10;
  const clock = opts.now ? { now: opts.now } : {};
  const events = createEventLog({ redis: opts.redis, prefix: opts.prefix, maxLen: cap, ...clock });
  const store = createRunStore({ redis: opts.redis, prefix: opts.prefix, eventsCap: cap, ...clock });
  const archive = createEventArchive({ redis: opts.redis, prefix: opts.prefix, events, retain: opts.eventsMaxLen });
  const finalizer = createRunFinalizer({
    store,
    archive,
    archiveTarget: opts.archiveTarget,
    ...(opts.pointerTarget ? { pointerTarget: opts.pointerTarget } : {}),
    retentionMs: opts.retentionS * 1000,
    ...(opts.onArchiveError ? { onArchiveError: opts.onArchiveError } : {}),
    ...(opts.onEnded ? { onEnded: opts.onEnded } : {}),
    ...clock,
  });
  return { store, events, archive, finalizer };
}
