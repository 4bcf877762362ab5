/** Every event key of a run, under the configured prefix. */
export interface EventKeys {
  /** Redis Stream holding the run's retained history. */
  stream: string;
  /** Counter behind `seq`, so seq has no gaps even when the stream is trimmed. */
  seq: string;
  /** Pub/sub channel for live fan-out (channels are not keys, but share the prefix). */
  channel: string;
}

export function eventKeys(prefix: string, runId: string): EventKeys {
  return {
    stream: `${prefix}run:${runId}:events`,
    seq: `${prefix}run:${runId}:seq`,
    channel: `${prefix}live:${runId}`,
  };
}
