import type { LogLevel } from '@agentyard/core';

export type OutputStream = 'stdout' | 'stderr';

/** Where coalesced output goes: the step's `log` events. */
export type OutputLogSink = (level: LogLevel, message: string, extra: { stream: OutputStream; lines?: number }) => Promise<void>;

/**
 * Turns a command's output lines into few `log` events: lines of one stream are gathered
 * for up to `flushMs` or `batchLines` lines into one event (`message` holds them joined by
 * newlines, `stream` names the stream, `lines` counts them). After `maxLines` lines a step
 * streams no more: one notice says where the whole output is kept, and the rest goes only
 * there, so a chatty program cannot flood its run's event log.
 */
export function createOutputLog(opts: {
  sink: OutputLogSink;
  maxLines: number;
  /** Said in the notice: where the whole output will be. */
  whereKept: string;
  /** @default 250 */
  flushMs?: number;
  /** @default 100 */
  batchLines?: number;
}) {
  const flushMs = opts.flushMs ?? 250;
  const batchLines = opts.batchLines ?? 100;
  let streamed = 0;
  let dropped = 0;
  let pending: { stream: OutputStream; lines: string[] } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const send = (level: LogLevel, message: string, extra: { stream: OutputStream; lines?: number }) => {
    // In order, and a failed append (Redis blip) loses only that batch of live output.
    chain = chain.then(() => opts.sink(level, message, extra)).catch(() => undefined);
  };
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!pending || pending.lines.length === 0) return;
    const { stream, lines } = pending;
    pending = undefined;
    send(stream === 'stderr' ? 'warn' : 'info', lines.join('\n'), { stream, lines: lines.length });
  };

  return {
    line(stream: OutputStream, line: string) {
      if (streamed >= opts.maxLines) {
        if (dropped++ === 0) {
          flush();
          send('warn', `output beyond ${opts.maxLines} lines is not streamed; the whole of it is kept in ${opts.whereKept}`, { stream });
        }
        return;
      }
      streamed += 1;
      if (pending && pending.stream !== stream) flush();
      pending ??= { stream, lines: [] };
      pending.lines.push(line);
      if (pending.lines.length >= batchLines) flush();
      else timer ??= setTimeout(flush, flushMs);
    },
    /** Sends what is gathered and waits until every event is appended. */
    async close(): Promise<{ streamed: number; dropped: number }> {
      flush();
      await chain;
      return { streamed, dropped };
    },
  };
}
