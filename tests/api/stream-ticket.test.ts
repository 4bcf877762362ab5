import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { loadConfig } from '@agentyard/config';
import { createLogger } from '@agentyard/observability';
import { createWorkspace } from '@agentyard/workspace';
import { buildApp, redactUrl } from '../../apps/api/src/app';
import { createApiDeps } from '../../apps/api/src/compose';
import { openSse } from '../helpers/sse-client';
import { API_KEYS, startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

describe('stream tickets', () => {
  let stack: Stack;
  let runId: string;
  let otherRunId: string;
  beforeAll(async () => {
    stack = await startStack({ label: 'stream-ticket', workers: 1, env: { STREAM_TICKET_TTL_S: '2' } });
    const write = { action: 'create', start: true, steps: [{ tool: 'fs.write', args: { path: 'a.txt', content: 'x' } }] };
    runId = (await stack.execute(write)).body.run_id;
    otherRunId = (await stack.execute(write)).body.run_id;
    await stack.waitForStatus(runId, ['succeeded']);
    await stack.waitForStatus(otherRunId, ['succeeded']);
  });
  afterAll(() => stack.stop());

  const ticketFor = async (id: string) => {
    const res = await stack.api('POST', `/agent/runs/${id}/stream-token`);
    expect(res.status).toBe(201);
    expect(Date.parse(res.body.expires_at)).toBeGreaterThan(Date.now());
    return res.body.token as string;
  };
  const streamUrl = (id: string, query: string) => `${stack.baseUrl}/agent/logs/${id}/stream?${query}`;

  it('opens the run’s SSE stream with ?access_token=<ticket>, replaying to the end', async () => {
    const sse = await openSse(streamUrl(runId, `access_token=${await ticketFor(runId)}`));
    expect(sse.status).toBe(200);
    await sse.waitFor((e) => e.event === 'end', 'end event over the ticketed stream');
    expect(sse.events.some((e) => e.event === 'step.succeeded' || e.event === 'step_succeeded' || e.event === 'status')).toBe(true);
  });

  it('refuses a ticket on another run’s stream with 401 claim_mismatch', async () => {
    const res = await fetch(streamUrl(otherRunId, `access_token=${await ticketFor(runId)}`));
    expect(res.status).toBe(401);
    expect((await res.json()).error.reason).toBe('claim_mismatch');
  });

  it('refuses a ticket after it expires with 401 token_expired', async () => {
    const ticket = await ticketFor(runId);
    await waitFor(
      async () => {
        const res = await fetch(streamUrl(runId, `access_token=${ticket}`));
        if (res.status === 200) await res.text();
        return res.status === 401 && (await res.json()).error.reason === 'token_expired';
      },
      { timeoutMs: 10_000, label: 'ticket refused as expired' },
    );
  });

  it('needs runs:read and a run of the tenant: 404 for an unknown run', async () => {
    expect((await stack.api('POST', '/agent/runs/run_00000000000000000000000000/stream-token')).status).toBe(404);
    expect((await stack.api('POST', `/agent/runs/${runId}/stream-token`, undefined, { token: '' })).status).toBe(401);
  });

  it.each([
    ['access_token', (t: string) => `access_token=${t}`],
    ['access%5Ftoken', (t: string) => `access%5Ftoken=${t}`],
    ['%61ccess_token', (t: string) => `%61ccess_token=${t}`],
    ['access_token[]', (t: string) => `access_token[]=${t}`],
    ['token', (t: string) => `token=${t}`],
  ])('refuses an API key in the URL as %s, saying to use a stream ticket', async (_key, query) => {
    for (const url of [streamUrl(runId, query(TOKENS.acme)), `${stack.baseUrl}/agent/runs/${runId}?${query(TOKENS.acme)}`]) {
      const res = await fetch(url, url.includes('/stream') ? {} : { headers: { Authorization: `Bearer ${TOKENS.acme}` } });
      expect(res.status).toBe(401);
      const body = await res.json();
      expect(body.error.message).toContain('POST /agent/runs/:id/stream-token');
      expect(JSON.stringify(body)).not.toContain(TOKENS.acme);
    }
  });

  it('refuses a valid ticket sent under an encoded key, or twice', async () => {
    const t = await ticketFor(runId);
    for (const q of [`access%5Ftoken=${t}`, `access_token[]=${t}`, `access_token=${t}&access_token=${t}`]) {
      expect((await fetch(streamUrl(runId, q))).status).toBe(401);
    }
  });
});

describe('access logs', () => {
  it.each([
    ['/x?access_token=SECRET1', '/x?access_token=[redacted]'],
    ['/x?a=1&access%5Ftoken=SECRET1&b=2', '/x?a=1&access%5Ftoken=[redacted]&b=2'],
    ['/x?%61ccess_token=SECRET1', '/x?%61ccess_token=[redacted]'],
    ['/x?access_token[]=SECRET1', '/x?access_token[]=[redacted]'],
    ['/x?TOKEN=SECRET1', '/x?TOKEN=[redacted]'],
    ['/x?%E0%A4%A=SECRET1', '/x?%E0%A4%A=[redacted]'],
    ['/x?last_event_id=1-0', '/x?last_event_id=1-0'],
  ])('redacts %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('contain no token of any kind at LOG_LEVEL=debug', async () => {
    const stack = await startStack({ label: 'stream-ticket-logs' });
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const config = loadConfig({ ...stack.env, API_KEYS, LOG_LEVEL: 'debug' }, { requireApiKeys: true });
    const logger = createLogger({ level: 'debug', name: 'api', secrets: config.secrets, destination });
    const deps = await createApiDeps(config, { logger, workspace: createWorkspace({ driver: 'fs', dir: config.WORKSPACE_DIR }), version: 'test' });
    const server: Server = buildApp(deps).listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const auth = { Authorization: `Bearer ${TOKENS.acme}`, 'Content-Type': 'application/json' };
      const created = await (await fetch(`${base}/agent/execute`, { method: 'POST', headers: auth, body: JSON.stringify({ action: 'create', steps: [{ tool: 'fs.write', args: { path: 'a', content: 'b' } }] }) })).json();
      const ticket = (await (await fetch(`${base}/agent/runs/${created.run_id}/stream-token`, { method: 'POST', headers: auth })).json()).token as string;
      expect(ticket).toBeTruthy();
      for (const q of [`access_token=${ticket}`, `access%5Ftoken=${ticket}`, `%61ccess_token=${TOKENS.acme}`, `access_token[]=${TOKENS.globex}`, `token=${TOKENS.ops}`]) {
        const res = await fetch(`${base}/agent/logs/${created.run_id}/stream?${q}`);
        res.body?.cancel();
      }
      await waitFor(() => lines.filter((l) => l.includes('/stream?')).length >= 5, { timeoutMs: 5000, label: 'five access log lines for the stream requests' });
      const all = lines.join('');
      for (const secret of [ticket, ...ticket.split('.'), TOKENS.acme, TOKENS.globex, TOKENS.ops]) expect(all).not.toContain(secret);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await deps.close();
      await stack.stop();
    }
  });
});
