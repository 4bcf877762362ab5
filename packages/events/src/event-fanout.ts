import type Redis from 'ioredis';
import type { RunEvent } from '@agentyard/core';
import { decodeLive } from './event-codec';
import { eventKeys } from './keys';
import { quitRedis } from './quit-redis';

export type EventListener = (event: RunEvent) => void;

export interface EventFanout {
  /**
   * Start receiving a run's live events. Resolves once Redis confirmed the subscription,
   * so a caller that reads history afterwards cannot miss an event in between.
   * Returns the function that stops delivery. `onResync` is called after the subscriber
   * connection was lost and is subscribed again: whatever was published meanwhile never
   * arrives, so the listener must catch up from the stream history.
   */
  subscribe(runId: string, listener: EventListener, onResync?: () => void): Promise<() => void>;
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
  interface Entry {
    runId: string;
    listeners: Map<EventListener, (() => void) | undefined>;
    ready: Promise<unknown>;
  }
  const byChannel = new Map<string, Entry>();

  const deliver = (channel: string, message: string) => {
    const entry = byChannel.get(channel);
    if (!entry) return;
    let event: RunEvent;
    try {
      event = decodeLive(entry.runId, message);
    } catch {
      return; // not ours or corrupt; the stream history remains the source of truth
    }
    for (const l of [...entry.listeners.keys()]) l(event);
  };

  // Pub/sub keeps nothing for a disconnected subscriber (a Redis restart, a network blip,
  // an output-buffer overflow). From the moment the connection drops, messages are held
  // back; on reconnect we subscribe again ourselves and wait for Redis to confirm (ioredis'
  // own resubscribe is not awaitable), tell listeners to catch up from history, and only
  // then hand over what was held, so nothing live overtakes the missed events.
  let connectedBefore = subscriber.status === 'ready';
  let held: Array<[string, string]> | null = null;
  subscriber.on('message', (channel: string, message: string) => (held ? held.push([channel, message]) : deliver(channel, message)));
  subscriber.on('close', () => {
    if (connectedBefore) held = held ?? [];
  });
  subscriber.on('ready', () => {
    if (!connectedBefore) {
      connectedBefore = true;
      return;
    }
    const channels = [...byChannel.keys()];
    const resubscribed = channels.length > 0 ? subscriber.subscribe(...channels) : Promise.resolve();
    resubscribed.then(
      () => {
        const pending = held ?? [];
        held = null;
        for (const channel of channels) {
          for (const onResync of [...(byChannel.get(channel)?.listeners.values() ?? [])]) onResync?.();
        }
        for (const [channel, message] of pending) deliver(channel, message);
      },
      () => undefined, // lost again; the next 'ready' retries
    );
  });

  return {
    async subscribe(runId, listener, onResync) {
      const channel = eventKeys(prefix, runId).channel;
      let entry = byChannel.get(channel);
      if (!entry) {
        entry = { runId, listeners: new Map(), ready: subscriber.subscribe(channel) };
        byChannel.set(channel, entry);
      }
      entry.listeners.set(listener, onResync);
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
      await quitRedis(subscriber);
    },
  };
}
