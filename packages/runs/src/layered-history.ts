import type { RunEvent } from '@agentyard/core';
import { compareIds, type EventLog, type RunHistory } from '@agentyard/events';
import type { ArchiveReader } from './run-archive';

/**
 * A live run's history as one sequence: the archive's segments for what the Redis stream
 * no longer holds, then the stream. The archiver trims the stream only after the trimmed
 * events are in complete segments, so the two overlap and a replay from any cursor has no
 * gap, without a `reset`. Only events lost while storage was down for long (the stream's
 * hard cap trimmed them unarchived) still make a cursor expired.
 */
export function layeredHistory(stream: EventLog, archive: Pick<ArchiveReader, 'events'>): RunHistory {
  return {
    async read(runId, { after, limit }): Promise<RunEvent[]> {
      const from = after !== undefined ? { after } : {};
      // The stream's oldest entry and the page are read together (one pipelined round trip,
      // not two in turn: an SSE stream opens behind it); the page is dropped when events right
      // after `after` are no longer in the stream and the archive has them.
      const [[oldest], page] = await Promise.all([stream.read(runId, { limit: 1 }), stream.read(runId, { ...from, limit })]);
      const trimmed = oldest !== undefined && (after === undefined ? oldest.seq > 1 : compareIds(after, oldest.id) < 0);
      if (trimmed) {
        const archived = await archive.events(runId, { ...from, limit });
        if (archived.length > 0) return archived;
      }
      return page;
    },
    async isExpired(runId, cursor) {
      if (!(await stream.isExpired(runId, cursor))) return false;
      // The cursor is in the archive: what follows it is there or in the stream.
      const [next] = await archive.events(runId, { after: cursor, limit: 1 });
      const held = await archive.events(runId, { limit: 1 });
      return !(next && held[0] && compareIds(held[0].id, cursor) <= 0);
    },
  };
}
