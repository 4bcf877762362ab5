/**
 * One timer for every open SSE stream of a process: each tick writes a comment frame to all of
 * them. A timer per stream costs a Timeout and its closure for the stream's whole life; with
 * thousands of streams open that is memory for nothing. A stream may get its first heartbeat
 * sooner than `intervalMs` after it opened, never later.
 */
export interface SseHeartbeat {
  add(stream: HeartbeatTarget): void;
  remove(stream: HeartbeatTarget): void;
  /** Streams that currently get heartbeats (for tests). */
  size(): number;
}

export interface HeartbeatTarget {
  write(chunk: string): unknown;
}

const FRAME = ': heartbeat\n\n';

export function createSseHeartbeat(intervalMs: number): SseHeartbeat {
  const streams = new Set<HeartbeatTarget>();
  let timer: NodeJS.Timeout | undefined;
  const beat = () => {
    for (const s of streams) s.write(FRAME);
  };
  return {
    add(stream) {
      streams.add(stream);
      if (!timer) {
        timer = setInterval(beat, intervalMs);
        // An idle server's exit is not held up by streams it will close anyway.
        timer.unref();
      }
    },
    remove(stream) {
      streams.delete(stream);
      if (streams.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    size: () => streams.size,
  };
}
