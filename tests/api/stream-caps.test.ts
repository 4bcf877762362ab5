import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createStreamLeases } from '@agentyard/runs';
import { buildApp } from '../../apps/api/src/app';
import { createStreamGate } from '../../apps/api/src/sse/stream-gate';
import { openSse, type SseConnection } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** max_sse_streams: counted in Redis over every API replica, with leases a crashed API cannot leak. */
describe('open SSE streams per tenant (max_sse_streams)', () => {
  let stack: Stack;
  let second: Server;
  let secondUrl: string;
  const open: SseConnection[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'sse-caps', tenants: { defaults: { max_sse_streams: 3 } } });
    // A second API replica on the same Redis: its own process state, the same counts.
    second = buildApp(stack.deps).listen(0, '127.0.0.1');
    await new Promise<void>((r) => second.once('listening', () => r()));
    secondUrl = `http://127.0.0.1:${(second.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const c of open) c.abort();
    second.closeAllConnections();
    await new Promise<void>((r) => second.close(() => r()));
    await stack.stop();
  });

  const newRun = async (token: string = TOKENS.acme) =>
    (await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] }, token)).body.run_id as string;
  const stream = async (base: string, runId: string, token: string = TOKENS.acme) => {
    const c = await openSse(`${base}/agent/logs/${runId}/stream`, { token });
    open.push(c);
    return c;
  };
  // The API process's lease count for the tenant, read as an operator would with redis-cli.
  const held = (tenant: string) => stack.redis.redis.zcount(`${stack.redis.prefix}tenant:${tenant}:streams`, `(${Date.now()}`, '+inf');

  it('refuses the stream beyond the cap with 429 naming max_sse_streams, across replicas; another tenant is unaffected; a closed stream frees its place', async () => {
    const run = await newRun();
    const a = await stream(stack.baseUrl, run);
    const b = await stream(secondUrl, run);
    const c = await stream(stack.baseUrl, run);
    for (const s of [a, b, c]) expect(s.status).toBe(200);
    expect(await held('acme')).toBe(3);

    for (const base of [stack.baseUrl, secondUrl]) {
      const res = await fetch(`${base}/agent/logs/${run}/stream`, { headers: { Authorization: `Bearer ${TOKENS.acme}`, Accept: 'text/event-stream' } });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('5');
      const body = (await res.json()) as any;
      expect(body.error).toMatchObject({ code: 'cap_reached', details: [{ path: 'max_sse_streams' }] });
      expect(body.error.message).toContain('tenant acme has 3 SSE streams open');
    }
    // globex has its own count.
    const g = await stream(secondUrl, await newRun(TOKENS.globex), TOKENS.globex);
    expect(g.status).toBe(200);

    b.abort();
    await waitFor(async () => (await held('acme')) === 2, { label: 'the closed stream to give its lease back' });
    const d = await stream(stack.baseUrl, run);
    expect(d.status).toBe(200);
    for (const s of [a, c, d, g]) s.abort();
    await waitFor(async () => (await held('acme')) === 0 && (await held('globex')) === 0, { label: 'every lease to be given back' });
  });

  it('frees the places of an API that died without closing them, while a live stream stays counted', async () => {
    // An API replica that took two leases and crashed: nobody renews or releases them.
    const crashed = createStreamLeases({ redis: stack.redis.redis, prefix: stack.redis.prefix, leaseMs: 1500 });
    expect(await crashed.acquire('acme', 'dead-api:1', 3)).toBe(true);
    expect(await crashed.acquire('acme', 'dead-api:2', 3)).toBe(true);
    const run = await newRun();
    const live = await stream(stack.baseUrl, run);
    expect(live.status).toBe(200);
    expect((await fetch(`${stack.baseUrl}/agent/logs/${run}/stream`, { headers: { Authorization: `Bearer ${TOKENS.acme}` } })).status).toBe(429);
    // The dead replica's leases run out; the live stream's (30 s, renewed every 10 s) stays.
    await waitFor(async () => (await held('acme')) === 1, { label: "the crashed API's leases to expire", timeoutMs: 5000 });
    const again = await stream(secondUrl, run);
    expect(again.status).toBe(200);
    live.abort();
    again.abort();
  });

  it('renews the lease of a stream that stays open past the lease length, and gives it back at the end', async () => {
    const leases = createStreamLeases({ redis: stack.redis.redis, prefix: stack.redis.prefix, leaseMs: 300 });
    const gate = createStreamGate({ leases, limit: () => 1 });
    const release = await gate.enter('initech');
    // Four lease lengths later the stream still counts, and still holds the tenant's one place.
    const until = Date.now() + 1200;
    await waitFor(() => Date.now() >= until, { label: '1.2 s to pass', intervalMs: 50 });
    expect(await held('initech')).toBe(1);
    await expect(gate.enter('initech')).rejects.toMatchObject({ code: 'cap_reached', status: 429 });
    await release();
    expect(await held('initech')).toBe(0);
    gate.close();
  });
});
