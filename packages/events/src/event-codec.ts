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

/**
 * Stream ids are `<ms>-<n>` (decimal, each up to 2^64 - 1); compares them numerically, not as
 * strings: negative, zero or positive. Digit by digit, without splitting or parsing: a live event
 * is compared once per client following the run (1,000 times per event in the fan-out bench),
 * and exact past 2^53, where Number would round.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const ea = da < 0 ? a.length : da;
  const eb = db < 0 ? b.length : db;
  return compareDigits(a, 0, ea, b, 0, eb) || compareDigits(a, ea + 1, a.length, b, eb + 1, b.length);
}

/** Compares the decimal numbers a[as, ae) and b[bs, be): leading zeros ignored, empty is 0. */
function compareDigits(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  while (as < ae && a.charCodeAt(as) === 48) as += 1;
  while (bs < be && b.charCodeAt(bs) === 48) bs += 1;
  if (ae - as !== be - bs) return ae - as - (be - bs);
  for (; as < ae; as += 1, bs += 1) {
    const d = a.charCodeAt(as) - b.charCodeAt(bs);
    if (d !== 0) return d;
  }
  return 0;
}

