import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventSource } from 'eventsource';
import { EVENT_TYPES } from '@agentyard/core';
import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { holdsFor, waitFor } from '../helpers/wait-for';

/**
 * The SSE route against a real EventSource client (the `eventsource` package, which
 * follows the WHATWG standard: reconnects after the server closes, sends Last-Event-ID,
 * honours `retry:`, and stops for good on 204). The server counts the connections it sees.
 */
const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i + 1}`, tool: 'log', args: { message: `line ${i + 1}` }, ...(i > 0 ? { needs: [`s${i}`] } : {}) }));

/** The stream retries after 1 s: this many ms is a few reconnect intervals. */
const QUIET_MS = 3000;

describe('SSE with a real EventSource client', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'sse-es' });
  });
  afterAll(() => stack.stop());

  /** Every request the API server gets for one run's stream: the Last-Event-ID it sent and the status it got. */
  const connectionsTo = (runId: string) => {
    const seen: { lastEventId: string | undefined; status?: number }[] = [];
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith(`/agent/logs/${runId}/stream`)) return;
      const c: (typeof seen)[number] = { lastEventId: req.headers['last-event-id'] as string | undefined };
      seen.push(c);
      res.on('close', () => (c.status = res.statusCode));
    };
    stack.server.on('request', onRequest);
    return { seen, stop: () => stack.server.off('request', onRequest) };
  };

  /** An EventSource with the bearer token added through its `fetch` option, recording every run event. */
  const follow = (url: string) => {
    const es = new EventSource(url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), Authorization: `Bearer ${TOKENS.acme}` } }),
    });
    const events: { id: string; type: string; seq: number }[] = [];
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (m: MessageEvent) => events.push({ id: m.lastEventId, type, seq: JSON.parse(m.data).seq }));
    }
    return { es, events };
  };

  const historyIds = async (runId: string) => (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events.map((e: { id: string }) => e.id);

  it('resuming a finished run at its end: one connection, answered 204, the EventSource closes and never reconnects', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: steps(2) });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const endId = (await historyIds(body.run_id)).at(-1);
    const conns = connectionsTo(body.run_id);
    const { es, events } = follow(`${stack.baseUrl}/agent/logs/${body.run_id}/stream?last_event_id=${endId}`);
    try {
      await waitFor(() => es.readyState === EventSource.CLOSED, { label: 'the EventSource to close on 204' });
      await holdsFor(() => conns.seen.length === 1 && es.readyState === EventSource.CLOSED, { forMs: QUIET_MS, label: 'no second connection' });
      expect(conns.seen).toEqual([{ lastEventId: undefined, status: 204 }]);
      expect(events).toEqual([]);
    } finally {
      es.close();
      conns.stop();
    }
  });

  it('a fresh EventSource on a finished run gets the whole history to end, reconnects once with Last-Event-ID, gets 204 and stops: 2 connections', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: steps(3) });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const ids = await historyIds(body.run_id);
    const conns = connectionsTo(body.run_id);
    const { es, events } = follow(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`);
    try {
      await waitFor(() => es.readyState === EventSource.CLOSED, { label: 'the EventSource to close after end' });
      await holdsFor(() => conns.seen.length === 2 && es.readyState === EventSource.CLOSED, { forMs: QUIET_MS, label: 'no third connection' });
      expect(events.map((e) => e.id)).toEqual(ids);
      expect(events.at(-1)!.type).toBe('end');
      expect(conns.seen).toEqual([
        { lastEventId: undefined, status: 200 },
        { lastEventId: ids.at(-1), status: 204 },
      ]);
    } finally {
      es.close();
      conns.stop();
    }
  });

  it('an EventSource following a run live to its end gets every event once, then one reconnect answered 204: 2 connections', async () => {
    const { body } = await stack.execute({ action: 'create', steps: steps(4) });
    const conns = connectionsTo(body.run_id);
    const { es, events } = follow(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`);
    try {
      await waitFor(() => events.some((e) => e.type === 'status'), { label: 'the created status event' });
      await stack.execute({ action: 'start', run_id: body.run_id });
      await waitFor(() => es.readyState === EventSource.CLOSED, { label: 'the EventSource to close after end', timeoutMs: 15_000 });
      await holdsFor(() => conns.seen.length === 2 && es.readyState === EventSource.CLOSED, { forMs: QUIET_MS, label: 'no third connection' });
      const ids = await historyIds(body.run_id);
      expect(events.map((e) => e.id)).toEqual(ids);
      expect(events.map((e) => e.seq)).toEqual(ids.map((_: string, i: number) => i + 1));
      expect(events.at(-1)!.type).toBe('end');
      expect(conns.seen).toEqual([
        { lastEventId: undefined, status: 200 },
        { lastEventId: ids.at(-1), status: 204 },
      ]);
    } finally {
      es.close();
      conns.stop();
    }
  });

  it('every stream opens with a retry: hint of 1000 ms', async () => {
    const { body } = await stack.execute({ action: 'create', steps: steps(1) });
    const res = await fetch(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { headers: { Authorization: `Bearer ${TOKENS.acme}` } });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(first.startsWith('retry: 1000\n\n')).toBe(true);
  });

  it('resuming after the end of a run that was retried since gets the retry’s events, not 204, ending with the new end', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 1 },
      steps: [
        { id: 'one', tool: 'log', args: { message: 'one' } },
        { id: 'two', tool: 'fail', args: { message: 'first time only', retryable: true, times: 1 }, needs: ['one'] },
      ],
    });
    await stack.waitForStatus(body.run_id, ['dead_lettered']);
    const firstEnd = (await historyIds(body.run_id)).at(-1);
    expect((await stack.execute({ action: 'retry', run_id: body.run_id })).status).toBe(202);
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const ids: string[] = await historyIds(body.run_id);

    const resumed = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme, lastEventId: firstEnd });
    expect(resumed.status).toBe(200);
    await resumed.closed;
    expect(resumed.events.map((e) => e.id)).toEqual(ids.slice(ids.indexOf(firstEnd) + 1));
    expect(resumed.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });

    // From the start, the replay goes past the first end (the run went on) to the last one.
    const fresh = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    await fresh.closed;
    expect(fresh.events.map((e) => e.id)).toEqual(ids);
    expect(fresh.events.filter((e) => e.event === 'end').map((e) => e.data.status)).toEqual(['dead_lettered', 'succeeded']);
  });
});
