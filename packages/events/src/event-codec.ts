import { z } from 'zod';
import { EVENT_TYPES, type RunEvent } from '@agentyard/core';

// Built once: a zod schema built per decoded entry showed in the worker's profile and was a
// tenth of what an SSE stream allocated opening.
const EventType = z.enum(EVENT_TYPES);

/** What pub/sub carries; validated because it is read back from Redis (an edge). */
const LiveMessage = z.object({
  id: z.string(),
  seq: z.number().int().positive(),
  ts: z.string(),
  type: EventType,
  data: z.string(),
});

export function decodeLive(runId: string, raw: string): RunEvent {
  const m = LiveMessage.parse(JSON.parse(raw));
  return build(runId, m.id, m.seq, m.ts, m.type, m.data);
}

/** An XRANGE entry: [id, [field, value, field, value, ...]]. */
export function decodeEntry(runId: string, entry: [string, string[]]): RunEvent {
  const [id, kv] = entry;
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) f[kv[i]!] = kv[i + 1]!;
  const type = EventType.parse(f.type);
  return build(runId, id, Number(f.seq), f.ts ?? '', type, f.data ?? '{}');
}

function build(runId: string, id: string, seq: number, ts: string, type: RunEvent['type'], data: string): RunEvent {
  const payload = JSON.parse(data) as Record<string, unknown>;
  return { ...payload, id, run_id: runId, seq, ts, type };
}

/** Stream ids are `<ms>-<n>`; compare numerically, not as strings. */
export function compareIds(a: string, b: string): number {
  const [am, an] = a.split('-').map(Number) as [number, number];
  const [bm, bn] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : an - bn;
}

