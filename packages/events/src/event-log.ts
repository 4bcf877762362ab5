import type Redis from 'ioredis';
import type { EventType, RunEvent } from '@agentyard/core';
import { APPEND_EVENT_LUA } from './append-event-lua';
import { compareIds, decodeEntry } from './event-codec';
import { eventKeys } from './keys';

export interface EventLogOptions {
  redis: Redis;
  prefix: string;
  /** Events retained per run. @default 10000 */
  maxLen?: number;
  now?: () => number;
}

export interface EventLog {
  append(runId: string, type: EventType, payload: Record<string, unknown>): Promise<string>;
  /** Events after `after` (exclusive; from the start when absent), oldest first. */
  read(runId: string, opts?: { after?: string; limit?: number }): Promise<RunEvent[]>;
  /** True when entries after `cursor` have been trimmed away, so replay would have a gap. */
  isExpired(runId: string, cursor: string): Promise<boolean>;
  readonly maxLen: number;
}

const APPEND_SCRIPT = `${APPEND_EVENT_LUA}
return ay_append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])`;

type Scripted = Redis & { ayAppend(...args: (string | number)[]): Promise<string> };

export function createEventLog(opts: EventLogOptions): EventLog {
  const { prefix } = opts;
  const redis = opts.redis as Scripted;
  // defineCommand sends EVALSHA: the script body crosses the wire once per connection.
  if (!('ayAppend' in opts.redis)) redis.defineCommand('ayAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
  const maxLen = opts.maxLen ?? 10_000;
  const now = opts.now ?? Date.now;
  return {
    maxLen,
    async append(runId, type, payload) {
      const k = eventKeys(prefix, runId);
      const ts = new Date(now()).toISOString();
      return redis.ayAppend(k.stream, k.seq, k.channel, maxLen, ts, type, JSON.stringify(payload));
    },
    async read(runId, { after, limit = 1000 } = {}) {
      const k = eventKeys(prefix, runId);
      const start = after === undefined ? '-' : `(${after}`;
      const entries = (await redis.xrange(k.stream, start, '+', 'COUNT', limit)) as [string, string[]][];
      return entries.map((e) => decodeEntry(runId, e));
    },
    async isExpired(runId, cursor) {
      const k = eventKeys(prefix, runId);
      let info: unknown[];
      try {
        info = (await redis.xinfo('STREAM', k.stream)) as unknown[];
      } catch {
        return false; // no stream yet: nothing was trimmed
      }
      const field = (name: string) => info[info.indexOf(name) + 1];
      const added = Number(field('entries-added'));
      const length = Number(field('length'));
      const first = field('first-entry') as [string, string[]] | null;
      // Trimming does not move max-deleted-entry-id (only XDEL does), so: something was
      // trimmed, and the cursor is older than the oldest entry still held. A cursor equal
      // to the very last trimmed entry also counts; the client then gets a reset it did
      // not strictly need, never a gap.
      if (!(added > length) || !first) return false;
      return compareIds(cursor, first[0]) < 0;
    },
  };
}
