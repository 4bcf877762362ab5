import { openSse, type SseEvent } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const chatty = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `s${i + 1}`,
    tool: i % 2 === 0 ? 'log' : 'wait',
    args: i % 2 === 0 ? { message: `line ${i + 1}` } : { seconds: 0.05 },
    ...(i > 0 ? { needs: [`s${i}`] } : {}),
  }));

describe('SSE replay, resume and reset', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'sse', env: { SSE_HEARTBEAT_S: '0.2' } });
  });
  afterAll(() => stack.stop());

  it('resumes after a mid-run disconnect with Last-Event-ID: every event exactly once, seq without gaps', async () => {
    const { body } = await stack.execute({ action: 'create', steps: chatty(16) });
    const runId: string = body.run_id;
    const url = `${stack.baseUrl}/agent/logs/${runId}/stream`;
    const first = await openSse(url, { token: TOKENS.acme });
    await stack.execute({ action: 'start', run_id: runId });
    await first.waitFor((e) => e.event === 'step' && e.data.step_id === 's4', 'step s4 to start');
    first.abort();
    await first.closed;
    const cut = first.events[first.events.length - 1]!;
    expect(cut.event).not.toBe('end');

    const second = await openSse(url, { token: TOKENS.acme, lastEventId: cut.id! });
    await second.closed;
    const union: SseEvent[] = [...first.events, ...second.events];
    const ids = union.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(union.map((e) => e.data.seq)).toEqual(union.map((_, i) => i + 1));
    expect(union[union.length - 1]!.event).toBe('end');
    expect(second.events[0]!.data.seq).toBe((cut.data.seq as number) + 1);

    const history = (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events;
    expect(union.map((e) => e.id)).toEqual(history.map((e: { id: string }) => e.id));
  });

  it('accepts ?last_event_id= as the cursor too', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: chatty(3) });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const all = (await stack.api('GET', `/agent/logs/${body.run_id}`)).body.events;
    const res = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream?last_event_id=${all[2].id}`, { token: TOKENS.acme });
    await res.closed;
    expect(res.events.map((e) => e.id)).toEqual(all.slice(3).map((e: { id: string }) => e.id));
  });

  it('answers 204 No Content when resumed after the end event of a finished run', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: chatty(1) });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const all = (await stack.api('GET', `/agent/logs/${body.run_id}`)).body.events;
    const res = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme, lastEventId: all.at(-1).id });
    expect(res.status).toBe(204);
    expect(res.events).toEqual([]);
  });

  it('rejects a malformed Last-Event-ID with 400 naming it', async () => {
    const { body } = await stack.execute({ action: 'create', steps: chatty(1) });
    const res = await fetch(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, {
      headers: { Authorization: `Bearer ${TOKENS.acme}`, 'Last-Event-ID': 'yesterday' },
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.details[0].path).toBe('Last-Event-ID');
  });

  it('sends heartbeats while idle and leaves no listener behind when the client goes away', async () => {
    const { body } = await stack.execute({ action: 'create', steps: chatty(1) });
    const before = stack.deps.fanout.listenerCount();
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    await sse.waitFor((e) => e.event === 'status', 'the created status event');
    expect(stack.deps.fanout.listenerCount()).toBe(before + 1);
    await waitFor(() => sse.comments >= 2, { label: 'two heartbeat comments', timeoutMs: 5000 });
    sse.abort();
    await waitFor(() => stack.deps.fanout.listenerCount() === before, { label: 'the listener to be removed' });
  });
});

describe('SSE with a short retained history', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'sse-reset', env: { EVENTS_MAX_LEN: '10' } });
  });
  afterAll(() => stack.stop());

  const trimmedRun = async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: chatty(12) });
    const runId: string = body.run_id;
    const early = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme });
    const firstEvent = await early.waitFor(() => true, 'any event');
    early.abort();
    await stack.waitForStatus(runId, ['succeeded']);
    await waitFor(async () => (await stack.archivedEvents(runId)).at(-1)?.type === 'end', { label: 'the archive to hold end' });
    // Once the whole run is in its archive, Redis keeps only the newest EVENTS_MAX_LEN events.
    const stream = `${stack.redis.prefix}run:${runId}:events`;
    await waitFor(async () => (await stack.redis.redis.xlen(stream)) === 10, { label: 'the stream to be trimmed to EVENTS_MAX_LEN' });
    return { runId, firstEvent, all: await stack.archivedEvents(runId) };
  };

  it('resumes from a cursor Redis trimmed away without a gap or a reset: the older events come from the archive', async () => {
    const { runId, firstEvent, all } = await trimmedRun();
    expect(all.length).toBeGreaterThan(20);
    const resumed = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme, lastEventId: firstEvent.id! });
    await resumed.closed;
    expect(resumed.events.map((e) => e.event)).not.toContain('reset');
    expect(resumed.events.map((e) => e.id)).toEqual(all.slice(1).map((e) => e.id));
    expect(resumed.events.at(-1)!.event).toBe('end');
    // The JSON history reads the same way, page by page.
    const page = (await stack.api('GET', `/agent/logs/${runId}?after=${firstEvent.id}&limit=5`)).body;
    expect(page.events.map((e: { seq: number }) => e.seq)).toEqual([2, 3, 4, 5, 6]);
  });

  it('sends reset and replays from the oldest event held when neither Redis nor the archive has what followed the cursor', async () => {
    const { runId, firstEvent } = await trimmedRun();
    // The archive's older segments are lost (as when storage was down longer than the stream's cap).
    const dir = `.agent/runs/${runId}/events`;
    const segments = (await stack.workspace.list(`tenants/acme/workspaces/${runId}/${dir}`)).entries.map((e) => e.path);
    for (const p of segments) await stack.workspace.delete(p);
    const retained = (await stack.api('GET', `/agent/logs/${runId}`)).body.events;
    expect(retained).toHaveLength(10);
    const resumed = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme, lastEventId: firstEvent.id! });
    await resumed.closed;
    expect(resumed.events[0]!.event).toBe('reset');
    expect(resumed.events.slice(1).map((e) => e.id)).toEqual(retained.map((e: { id: string }) => e.id));
    expect(resumed.events.at(-1)!.event).toBe('end');
  });
});
