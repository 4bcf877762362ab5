import type Redis from 'ioredis';
import type { RunEvent } from '@agentyard/core';
import { compareIds, decodeEntry, eventKeys, type EventLog } from '@agentyard/events';
import { runKeys } from './keys';
import type { EndTail } from './run-store';
import { toFullRunView, type StoredRun } from './run-codec';

/**
 * A run's archive in its workspace, under `.agent/runs/<run_id>/`:
 *
 *   run.json                     the run as `GET /agent/runs/:id` shows it, outputs untruncated
 *   events/<first seq>.jsonl     every event, in segments of `segment` events by seq
 *                                (segment n holds seq n*segment+1 .. (n+1)*segment; the name is
 *                                the first seq, zero-padded, so names sort in order)
 *
 * Complete segments are written while the run goes (the worker flushes them), so the Redis
 * stream can be trimmed to EVENTS_MAX_LEN without losing history; the partial last segment
 * is written when the run ends, `end` included. Rewriting a segment writes the same events
 * again, so every write is idempotent and two writers cannot disagree.
 */
export const archiveDir = (runId: string) => `.agent/runs/${runId}`;
export const archiveRecordPath = (runId: string) => `${archiveDir(runId)}/run.json`;
/**
 * At the tenant's root (outside every workspace), for a run that shares a workspace: names the
 * workspace holding its archive, so its id alone finds it once the listing let go of it
 * (max_listed_runs). A run in a workspace of its own needs none: its id is its workspace's.
 */
export const runPointerPath = (runId: string) => `.agent/runs/${runId}.json`;
const segmentPath = (runId: string, firstSeq: number) => `${archiveDir(runId)}/events/${String(firstSeq).padStart(12, '0')}.jsonl`;

/** The slice of a workspace the archive writes to. */
export interface ArchiveTarget {
  write(path: string, body: string, opts?: { contentType?: string }): Promise<unknown>;
}

/** The slice of a workspace the archive is read back from. */
export interface ArchiveSource {
  read(path: string): Promise<Buffer>;
  list(prefix: string, opts?: { cursor?: string; limit?: number }): Promise<{ entries: { path: string }[]; next_cursor?: string }>;
}

export interface EventArchive {
  /**
   * Writes the run's complete segments that are not archived yet, then trims the Redis
   * stream to `retain` entries (only ever archived ones). `final` also writes the partial
   * last segment (the run ended). Returns how many events it wrote.
   */
  flush(runId: string, target: ArchiveTarget, opts?: { final?: boolean }): Promise<number>;
  /**
   * The final flush of a run that just ended, from what `end` handed back: when those events
   * are all that is unarchived and fit the open segment (a short run), it writes them
   * without reading the stream again; otherwise it is `flush(..., { final: true })`.
   */
  finish(runId: string, target: ArchiveTarget, tail: EndTail): Promise<number>;
  /** Writes run.json. */
  writeRecord(run: StoredRun, target: ArchiveTarget): Promise<void>;
  readonly segment: number;
}

/**
 * cursor: advances the archived-through mark and trims what is archived and old.
 * KEYS  1 archive cursor hash, 2 event stream, 3 event seq
 * ARGV  1 seq of the last complete segment written ('0' = none: the cursor stays), 2 its
 *       entry id, 3 entries to retain, 4 highest seq written (a partial segment counts)
 * The stream keeps its newest `retain` entries; it is trimmed only while every event not yet
 * written is among them, so trimming never drops an unarchived event. Returns the cursor.
 */
const CURSOR_LUA = `
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) > current then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'id', ARGV[2])
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  current = tonumber(ARGV[1])
end
local head = tonumber(redis.call('GET', KEYS[3]) or '0')
if head - math.max(current, tonumber(ARGV[4])) <= tonumber(ARGV[3]) then redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[3]) end
return current
`;

export function createEventArchive(opts: { redis: Redis; prefix: string; events: EventLog; retain: number; segment?: number }): EventArchive {
  const { events, prefix } = opts;
  const k = runKeys(prefix);
  const segment = Math.max(1, Math.min(opts.segment ?? 1000, opts.retain));
  const redis = opts.redis as Redis & { ayArchiveCursor(...args: (string | number)[]): Promise<number> };
  if (!('ayArchiveCursor' in opts.redis)) redis.defineCommand('ayArchiveCursor', { numberOfKeys: 3, lua: CURSOR_LUA });

  const write = (target: ArchiveTarget, runId: string, page: RunEvent[]) =>
    target.write(segmentPath(runId, page[0]!.seq), `${page.map((e) => JSON.stringify(e)).join('\n')}\n`, { contentType: 'application/x-ndjson' });

  const archive: EventArchive = {
    segment,
    async finish(runId, target, tail) {
      const page = tail.entries.map((e) => decodeEntry(runId, e));
      const first = page[0];
      const last = page[page.length - 1];
      const whole = first && last && first.seq === tail.archivedSeq + 1 && last.id === tail.endId && last.seq < tail.archivedSeq + segment;
      if (!whole) return archive.flush(runId, target, { final: true });
      await write(target, runId, page);
      // The cursor stays (a partial segment); trim only when the stream is past what it keeps.
      if (tail.streamLength > opts.retain) {
        const ev = eventKeys(prefix, runId);
        await redis.ayArchiveCursor(k.archiveCursor(runId), ev.stream, ev.seq, 0, '', opts.retain, last.seq);
      }
      return page.length;
    },
    async flush(runId, target, o = {}) {
      const ev = eventKeys(prefix, runId);
      // Two commands in one round trip, no MULTI: both only ever grow, and ioredis builds a
      // pipeline object per MULTI by copying every defined script onto it (seen per run in
      // the worker's profile).
      const [cur, head] = await Promise.all([redis.hmget(k.archiveCursor(runId), 'seq', 'id'), redis.get(ev.seq)]);
      let archivedSeq = Number(cur[0] ?? 0);
      let after = cur[1] ?? undefined;
      const headSeq = Number(head ?? 0);
      if (!o.final && headSeq - archivedSeq < segment) return 0;
      let written = 0;
      for (;;) {
        // Events of the next segment: those after the cursor, up to its last seq.
        const page = (await events.read(runId, { ...(after ? { after } : {}), limit: segment })).filter(
          (e) => e.seq <= archivedSeq + segment,
        );
        if (page.length === 0) break;
        const last = page[page.length - 1]!;
        const complete = last.seq === archivedSeq + segment;
        if (!complete && !o.final) break;
        await write(target, runId, page);
        written += page.length;
        const cursorArgs = complete ? [last.seq, last.id] : [0, ''];
        archivedSeq = await redis.ayArchiveCursor(k.archiveCursor(runId), ev.stream, ev.seq, ...cursorArgs, opts.retain, last.seq);
        if (!complete) break; // the partial last segment: rewritten whole by the next flush
        after = last.id;
      }
      return written;
    },
    async writeRecord(run, target) {
      await target.write(archiveRecordPath(run.doc.id), JSON.stringify(toFullRunView(run), null, 2), { contentType: 'application/json' });
    },
  };
  return archive;
}

/** Reads a run's archive back: its record, and its events in order. */
export function createArchiveReader(source: ArchiveSource) {
  const segments = async (runId: string): Promise<string[]> => {
    const paths: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await source.list(`${archiveDir(runId)}/events`, { limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const e of page.entries) if (e.path.endsWith('.jsonl')) paths.push(e.path);
      cursor = page.next_cursor;
    } while (cursor);
    return paths.sort();
  };
  return {
    async record(runId: string): Promise<Record<string, unknown> | undefined> {
      try {
        return JSON.parse((await source.read(archiveRecordPath(runId))).toString('utf8')) as Record<string, unknown>;
      } catch (err) {
        if ((err as { code?: string }).code === 'not_found') return undefined;
        throw err;
      }
    },
    /** Events after `after` (a stream id, exclusive), oldest first, at most `limit`. */
    async events(runId: string, q: { after?: string; limit?: number } = {}): Promise<RunEvent[]> {
      const limit = q.limit ?? Number.POSITIVE_INFINITY;
      const out: RunEvent[] = [];
      let lastSeq = 0;
      for (const path of await segments(runId)) {
        for (const line of (await source.read(path)).toString('utf8').split('\n')) {
          if (!line) continue;
          const e = JSON.parse(line) as RunEvent;
          if (e.seq <= lastSeq) continue; // a partial segment a later complete one rewrote
          lastSeq = e.seq;
          if (q.after !== undefined && compareIds(e.id, q.after) <= 0) continue;
          out.push(e);
          if (out.length >= limit) return out;
        }
      }
      return out;
    },
  };
}
export type ArchiveReader = ReturnType<typeof createArchiveReader>;
