import type Redis from 'ioredis';
import type { RunEvent } from '@agentyard/core';
import { decodeLive } from './event-codec';
import { eventKeys } from './keys';

export type EventListener = (event: RunEvent) => void;

export interface EventFanout {
  /**
   * Start receiving a run's live events. Resolves once Redis confirmed the subscription,
   * so a caller that reads history afterwards cannot miss an event in between.
   * Returns the function that stops delivery.
   */
  subscribe(runId: string, listener: EventListener): Promise<() => void>;
  /** Live listeners across all runs (for metrics and leak tests). */
  listenerCount(): number;
  close(): Promise<void>;
}

/**
 * One subscriber connection per process serves every SSE client: a run's channel is
 * SUBSCRIBEd when its first listener arrives and UNSUBSCRIBEd when its last one leaves.
 */
export function createEventFanout(opts: { subscriber: Redis; prefix: string }): EventFanout {
  const { subscriber, prefix } = opts;
  const byChannel = new Map<string, { runId: string; listeners: Set<EventListener>; ready: Promise<unknown> }>();

  subscriber.on('message', (channel: string, message: string) => {
    const entry = byChannel.get(channel);
    if (!entry) return;
    let event: RunEvent;
    try {
      event = decodeLive(entry.runId, message);
    } catch {
      return; // not ours or corrupt; the stream history remains the source of truth
    }
    for (const l of [...entry.listeners]) l(event);
  });

  return {
    async subscribe(runId, listener) {
      const channel = eventKeys(prefix, runId).channel;
      let entry = byChannel.get(channel);
      if (!entry) {
        entry = { runId, listeners: new Set(), ready: subscriber.subscribe(channel) };
        byChannel.set(channel, entry);
      }
      entry.listeners.add(listener);
      try {
        await entry.ready;
      } catch (e) {
        entry.listeners.delete(listener);
        if (entry.listeners.size === 0) byChannel.delete(channel);
        throw e;
      }
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        const current = byChannel.get(channel);
        if (!current) return;
        current.listeners.delete(listener);
        if (current.listeners.size === 0) {
          byChannel.delete(channel);
          subscriber.unsubscribe(channel).catch(() => undefined);
        }
      };
    },
    listenerCount() {
      let n = 0;
      for (const e of byChannel.values()) n += e.listeners.size;
      return n;
    },
    async close() {
      byChannel.clear();
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
