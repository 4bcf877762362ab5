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
export function layeredHistory(stream: EventLog, archive: ArchiveReader): RunHistory {
  /** Whether events right after `after` are no longer in the stream. */
  const trimmedAfter = async (runId: string, after: string | undefined): Promise<boolean> => {
    const [oldest] = await stream.read(runId, { limit: 1 });
    if (!oldest) return false;
    if (after === undefined) return oldest.seq > 1;
    return compareIds(after, oldest.id) < 0;
  };
  return {
    async read(runId, { after, limit }): Promise<RunEvent[]> {
      if (await trimmedAfter(runId, after)) {
        const page = await archive.events(runId, { ...(after !== undefined ? { after } : {}), limit });
        if (page.length > 0) return page;
      }
      return stream.read(runId, { ...(after !== undefined ? { after } : {}), limit });
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
