import { newRunId } from '@agentyard/core';
import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { createEventFanout, type EventFanout } from './event-fanout';
import { createEventLog, type EventLog } from './event-log';

describe('event fanout when its subscriber connection drops', () => {
  let t: TestRedis;
  let fanout: EventFanout;
  let log: EventLog;
  let subscriberId: number;
  beforeAll(async () => {
    t = testRedis('fanout');
    const subscriber = t.connect();
    subscriberId = Number(await subscriber.client('ID'));
    fanout = createEventFanout({ subscriber, prefix: t.prefix });
    log = createEventLog({ redis: t.redis, prefix: t.prefix, maxLen: 1000 });
  });
  afterAll(() => t.cleanup());

  it('asks listeners to catch up after reconnecting, before any live event published after the drop', async () => {
    const runId = newRunId();
    const seen: string[] = [];
    let resynced!: () => void;
    const resync = new Promise<void>((r) => (resynced = r));
    await fanout.subscribe(
      runId,
      (e) => seen.push(`event:${e.seq}`),
      () => {
        seen.push('resync');
        resynced();
      },
    );
    await log.append(runId, 'log', { message: 'before' });
    await waitUntil(() => seen.includes('event:1'));

    // Kill only our subscriber's connection; ioredis reconnects and resubscribes by itself.
    await t.redis.client('KILL', 'ID', String(subscriberId));
    // Keep publishing through the reconnect, so events race the resubscription.
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await log.append(runId, 'log', { message: 'during' });
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await resync;
    await new Promise((r) => setTimeout(r, 50));
    publishing = false;
    await publisher;

    const firstAfterDrop = seen.findIndex((s, i) => i > 0 && s !== 'event:1' && s.startsWith('event:'));
    const resyncAt = seen.indexOf('resync');
    expect(resyncAt).toBeGreaterThan(0);
    // Whatever arrives live after the drop comes after the resync; earlier events are read
    // from the stream by the listener, so none is lost or overtaken.
    expect(firstAfterDrop).not.toBe(-1);
    expect(firstAfterDrop).toBeGreaterThan(resyncAt);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
