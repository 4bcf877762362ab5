import type { RunEvent } from '@agentyard/core';
import { compareIds } from './event-codec';

/**
 * Where a run's past events come from: the Redis Stream (`EventLog` fits as it is) or,
 * once retention removed that, the run's archive in its workspace.
 */
export interface RunHistory {
  /** Events after `after` (exclusive; from the oldest held when absent), oldest first, at most `limit`. */
  read(runId: string, opts: { after?: string; limit: number }): Promise<RunEvent[]>;
  /** True when events after `cursor` are no longer held, so a replay from it would have a gap. */
  isExpired(runId: string, cursor: string): Promise<boolean>;
}

/**
 * A history held in memory, oldest first (for instance a run's events read from its
 * archive). `seq` counts a run's events from 1 without gaps, so a list that does not start
 * at 1 has lost its oldest entries, and a cursor before its first id is expired.
 */
export function createMemoryHistory(events: readonly RunEvent[]): RunHistory {
  const sorted = [...events].sort((a, b) => compareIds(a.id, b.id));
  return {
    async read(_runId, { after, limit }) {
      const from = after === undefined ? 0 : sorted.findIndex((e) => compareIds(e.id, after) > 0);
      return from < 0 ? [] : sorted.slice(from, from + limit);
    },
    async isExpired(_runId, cursor) {
      const first = sorted[0];
      return first !== undefined && first.seq > 1 && compareIds(cursor, first.id) < 0;
    },
  };
}
