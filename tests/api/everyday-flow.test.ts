import { openSse } from '../helpers/sse-client';
import { waitFor } from '../helpers/wait-for';
import { startStack, TOKENS, type Driver, type Stack } from '../helpers/stack';

describe.each<Driver>(['fs', 's3'])('everyday flow over HTTP and SSE (%s workspace)', (driver) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ driver, workers: 1, label: `flow-${driver}` });
  });
  afterAll(() => stack.stop());

  it('creates and starts a run that lists files and writes test.txt, streams it to the end, and serves the file', async () => {
    const created = await stack.execute({
      action: 'create',
      steps: [
        { id: 'list', tool: 'fs.list', args: {} },
        { id: 'write', tool: 'fs.write', args: { path: 'test.txt', content: 'hello from agentyard\n' }, needs: ['list'] },
        { id: 'read', tool: 'fs.read', args: { path: 'test.txt' }, needs: ['write'] },
      ],
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('created');
    const runId: string = created.body.run_id;
    expect(created.body.run.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ['list', 'pending'],
      ['write', 'pending'],
      ['read', 'pending'],
    ]);

    const started = await stack.execute({ action: 'start', run_id: runId });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ run_id: runId, status: 'queued' });

    const sse = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(sse.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(sse.headers.get('x-accel-buffering')).toBe('no');
    await sse.closed;

    const types = sse.events.map((e) => e.event);
    expect(types[types.length - 1]).toBe('end');
    expect(sse.events[sse.events.length - 1]!.data).toMatchObject({ status: 'succeeded', run_id: runId });
    expect(sse.events.map((e) => e.data.seq)).toEqual(sse.events.map((_, i) => i + 1));
    const statuses = sse.events.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['created', 'queued', 'running', 'succeeded']);
    const phases = sse.events.filter((e) => e.event === 'step').map((e) => `${e.data.step_id}:${e.data.phase}`);
    expect(phases).toEqual(['list:started', 'list:succeeded', 'write:started', 'write:succeeded', 'read:started', 'read:succeeded']);
    const readDone = sse.events.find((e) => e.event === 'step' && e.data.step_id === 'read' && e.data.phase === 'succeeded');
    expect(readDone!.data.output).toMatchObject({ content: 'hello from agentyard\n' });

    const run = (await stack.api('GET', `/agent/runs/${runId}`)).body;
    expect(run).toMatchObject({ id: runId, status: 'succeeded', attempts: 1, tenant: 'acme', workspace_id: runId });
    expect(run.steps.every((s: { status: string; attempts: number }) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    expect(run.result).toMatchObject({ read: { content: 'hello from agentyard\n' } });

    const file = await stack.api('GET', `/agent/runs/${runId}/files/test.txt`);
    expect(file.status).toBe(200);
    expect(file.body).toBe('hello from agentyard\n');

    const listing = (await stack.api('GET', `/agent/runs/${runId}/files`)).body;
    const paths = listing.entries.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['test.txt', `.agent/runs/${runId}/run.json`]));

    const archived = await stack.api('GET', `/agent/runs/${runId}/files/.agent/runs/${runId}/run.json`);
    expect(archived.headers.get('content-type')).toMatch(/^application\/json/);
    expect(archived.body).toMatchObject({ id: runId, status: 'succeeded' });
    // The record and the events before `end` are written before it; `end` follows a moment later.
    await waitFor(async () => (await stack.archivedEvents(runId)).at(-1)?.type === 'end', { label: 'the archive to hold end' });
    const archivedEvents = await stack.archivedEvents(runId);
    expect(archivedEvents.map((e) => e.id)).toEqual(sse.events.map((e) => e.id));
    expect(archivedEvents.map((e) => e.seq)).toEqual(sse.events.map((e) => e.data.seq));

    const logs = (await stack.api('GET', `/agent/logs/${runId}`)).body;
    expect(logs.events.map((e: { id: string }) => e.id)).toEqual(sse.events.map((e) => e.id));
  });
});
