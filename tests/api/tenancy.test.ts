import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('tenant isolation', () => {
  let stack: Stack;
  let runId: string;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'tenancy' });
    const created = await stack.execute({
      action: 'create',
      start: true,
      steps: [{ tool: 'fs.write', args: { path: 'secret.txt', content: 'acme only' } }],
    });
    runId = created.body.run_id;
    await stack.waitForStatus(runId, ['succeeded']);
  });
  afterAll(() => stack.stop());

  it.each([
    ['the run', (id: string) => `/agent/runs/${id}`],
    ['its logs', (id: string) => `/agent/logs/${id}`],
    ['its file listing', (id: string) => `/agent/runs/${id}/files`],
    ['its file', (id: string) => `/agent/runs/${id}/files/secret.txt`],
  ])('gives another tenant 404 for %s', async (_what, path) => {
    const own = await stack.api('GET', path(runId));
    expect(own.status).toBe(200);
    const other = await stack.api('GET', path(runId), undefined, { token: TOKENS.globex });
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect(JSON.stringify(other.body)).not.toContain('acme only');
  });

  it('gives another tenant 404 for the SSE stream and for a stream ticket of it', async () => {
    const byHeader = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.globex });
    expect(byHeader.status).toBe(404);
    const ticket = await stack.api('POST', `/agent/runs/${runId}/stream-token`, undefined, { token: TOKENS.globex });
    expect(ticket.status).toBe(404);
    const byKeyInUrl = await fetch(`${stack.baseUrl}/agent/logs/${runId}/stream?access_token=${TOKENS.globex}`);
    expect(byKeyInUrl.status).toBe(401);
    const mine = await stack.api('POST', `/agent/runs/${runId}/stream-token`);
    const own = await fetch(`${stack.baseUrl}/agent/logs/${runId}/stream?access_token=${mine.body.token}`);
    expect(own.status).toBe(200);
    await own.text(); // the run has ended, so the stream replays and closes
  });

  it('gives another tenant 404 for start, cancel and retry', async () => {
    for (const action of ['start', 'cancel', 'retry']) {
      const res = await stack.execute({ action, run_id: runId }, TOKENS.globex);
      expect(res.status).toBe(404);
    }
  });

  it('does not start another tenant’s created run: 404, and the run stays created', async () => {
    const created = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'not yours' } }] });
    expect(created.status).toBe(201);
    const id = created.body.run_id as string;
    // The start script goes out with the read (one round trip); it checks the tenant itself.
    expect((await stack.execute({ action: 'start', run_id: id }, TOKENS.globex)).status).toBe(404);
    const after = await stack.api('GET', `/agent/runs/${id}`);
    expect(after.body.status).toBe('created');
    expect((await stack.api('GET', `/agent/logs/${id}`)).body.events.map((e: { status?: string }) => e.status)).toEqual(['created']);
    expect((await stack.execute({ action: 'start', run_id: id })).status).toBe(202);
  });

  it('lists only the tenant’s own runs', async () => {
    const acme = (await stack.api('GET', '/agent/runs')).body.runs.map((r: { id: string }) => r.id);
    const globex = (await stack.api('GET', '/agent/runs', undefined, { token: TOKENS.globex })).body.runs;
    expect(acme).toContain(runId);
    expect(globex).toEqual([]);
  });

  it('accepts ?access_token= only on the SSE route', async () => {
    const res = await fetch(`${stack.baseUrl}/agent/runs/${runId}?access_token=${TOKENS.acme}`);
    expect(res.status).toBe(401);
  });
});
