import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_STEPS_PER_PLAN, MAX_PROMPT_CHARS } from '@agentyard/core';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

/** Writes `raw` on a fresh socket and returns everything the server answers until it closes. */
function rawExchange(baseUrl: string, raw: string): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(raw));
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('utf8')));
    socket.on('end', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

const envelope = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
const log = (message: string) => ({ tool: 'log', args: { message } });
/** API_STEP_ARGS_LIMIT of the first stack (64kb), in bytes. */
const ARGS_LIMIT = 64 * 1024;

describe('limits at the edge', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'edge', env: { API_MAX_HEADER_BYTES: '8192', API_STEP_ARGS_LIMIT: '64kb' } });
  });
  afterAll(() => stack.stop());

  it('answers an unauthenticated 3 MB body with 401 without parsing it, and an unrouted 5 MB body with 404', async () => {
    // Not JSON at all: a parser that ran first would answer 400 (or 413), never 401.
    const junk = '{'.repeat(3 * 1024 * 1024);
    const res = await fetch(`${stack.baseUrl}/agent/execute`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer not-a-key' }, body: junk });
    expect(res.status).toBe(401);
    expect((await res.json()).error.reason).toBeDefined();
    const none = await fetch(`${stack.baseUrl}/agent/execute`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: junk });
    expect(none.status).toBe(401);
    // Larger than API_BODY_LIMIT (4mb): only a parsed body could be 413.
    const unrouted = await fetch(`${stack.baseUrl}/nowhere`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'x'.repeat(5 * 1024 * 1024) });
    expect(unrouted.status).toBe(404);
  });

  it('answers an authenticated body over API_BODY_LIMIT with 413 naming the limit', async () => {
    const big = await stack.api('POST', '/agent/execute', undefined, { raw: JSON.stringify({ action: 'create', prompt: 'x'.repeat(5 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'payload_too_large', message: expect.stringContaining(String(4 * 1024 * 1024)) });
  });

  it.each([
    ['a prompt over the limit', { action: 'create', prompt: 'p'.repeat(MAX_PROMPT_CHARS + 1) }, 'prompt', String(MAX_PROMPT_CHARS)],
    ['more steps than a plan may have', { action: 'create', steps: Array.from({ length: MAX_STEPS_PER_PLAN + 1 }, (_, i) => log(`s${i}`)) }, 'steps', String(MAX_STEPS_PER_PLAN)],
    ['one step whose args are over the limit', { action: 'create', steps: [log('ok'), { tool: 'fs.write', args: { path: 'a', content: 'c'.repeat(ARGS_LIMIT) } }] }, 'steps[1].args', `${ARGS_LIMIT} bytes per step (API_STEP_ARGS_LIMIT)`],
  ])('refuses %s with 400 naming the field and the limit', async (_what, body, path, limit) => {
    const res = await stack.execute(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ path, message: expect.stringContaining(limit) });
  });

  it('refuses session invoke args over the per-step limit, naming args', async () => {
    const s = await stack.api('POST', '/v1/sessions', {}, { token: TOKENS.acme });
    expect(s.status).toBe(201);
    const res = await stack.api('POST', `/v1/sessions/${s.body.session.id}/tools/log/invoke`, { args: { message: 'm'.repeat(ARGS_LIMIT) } });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ path: 'args', message: expect.stringContaining(`${ARGS_LIMIT} bytes per step`) });
    // Just under the limit goes through (as globex: the tests below count acme's runs).
    const fits = await stack.execute({ action: 'create', steps: [{ tool: 'fs.write', args: { path: 'a', content: 'c'.repeat(ARGS_LIMIT - 100) } }] }, TOKENS.globex);
    expect(fits.status).toBe(201);
  });

  it('refuses a body nested deeper than 64 levels on every route that takes one, naming where', async () => {
    const deep = `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`;
    const execute = await stack.api('POST', '/agent/execute', undefined, { raw: `{"action":"create","steps":[{"tool":"log","args":${deep}}]}` });
    expect(execute.status).toBe(400);
    expect(execute.body.error.details[0].path).toMatch(/^steps\[0\]\.args(\.a)+$/);
    const session = await stack.api('POST', '/v1/sessions', undefined, { raw: `{"metadata":${deep}}` });
    expect(session.status).toBe(400);
    expect(session.body.error.message).toContain('nested deeper than 64 levels');
  });

  it.each([
    ['__proto__ in labels', '{"action":"create","steps":[{"tool":"log","args":{"message":"x"}}],"options":{"labels":{"team":"a","__proto__":{"admin":"1"}}}}', 'options.labels.__proto__'],
    ['__proto__ in args', '{"action":"create","steps":[{"tool":"log","args":{"message":"x","__proto__":{"polluted":true}}}]}', 'steps[0].args.__proto__'],
    ['constructor in args', '{"action":"create","steps":[{"tool":"log","args":{"message":"x","constructor":"y"}}]}', 'steps[0].args.constructor'],
    ['prototype at the top', '{"action":"create","prompt":"x","prototype":{}}', 'prototype'],
  ])('rejects %s with 400 naming the field, instead of dropping it', async (_what, raw, path) => {
    const res = await stack.api('POST', '/agent/execute', undefined, { raw });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toEqual({ path, message: expect.stringContaining('reserved key') });
    expect((await stack.deps.store.list('acme', { limit: 10 })).runs).toHaveLength(0);
  });

  it('rejects reserved keys in session bodies and invoke args too', async () => {
    const meta = await stack.api('POST', '/v1/sessions', undefined, { raw: '{"metadata":{"__proto__":{"x":1}}}' });
    expect(meta.status).toBe(400);
    expect(meta.body.error.details[0].path).toBe('metadata.__proto__');
    const s = await stack.api('POST', '/v1/sessions', {});
    const inv = await stack.api('POST', `/v1/sessions/${s.body.session.id}/tools/log/invoke`, undefined, { raw: '{"args":{"message":"m","constructor":1}}' });
    expect(inv.status).toBe(400);
    expect(inv.body.error.details[0].path).toBe('args.constructor');
  });

  it('answers headers over API_MAX_HEADER_BYTES with 431 in the JSON envelope, naming the setting', async () => {
    const answer = await rawExchange(stack.baseUrl, `GET /agent/runs HTTP/1.1\r\nHost: x\r\nX-Filler: ${'f'.repeat(10_000)}\r\n\r\n`);
    expect(answer.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(answer).toMatch(/content-type: application\/json/i);
    expect(envelope(answer).error).toEqual({ code: 'headers_too_large', message: expect.stringContaining('API_MAX_HEADER_BYTES') });
  });

  it("answers oversized chunk extensions with 413 in the JSON envelope, as the parser's refusal", async () => {
    const answer = await rawExchange(stack.baseUrl, `POST /agent/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.acme}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\nx\r\n0\r\n\r\n`);
    expect(answer.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(envelope(answer).error.code).toBe('payload_too_large');
  });

  it("answers a request Node's parser refuses with 400 in the JSON envelope", async () => {
    const answer = await rawExchange(stack.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: yes\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(envelope(answer).error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('could not be parsed') });
    // The server is still there for the next client.
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  });

  it("sends helmet's security headers on every answer, errors included, and no CORS headers by default", async () => {
    for (const res of [await fetch(`${stack.baseUrl}/healthz`), await fetch(`${stack.baseUrl}/agent/runs`, { headers: { Origin: 'https://evil.example' } })]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('strict-transport-security')).toContain('max-age=');
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    const preflight = await fetch(`${stack.baseUrl}/agent/runs`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('edge settings: CORS_ORIGINS, TRUST_PROXY, /readyz', () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ay-edge-'));
    // A file where the workspace directory's parent should be: the workspace cannot answer.
    writeFileSync(join(dir, 'not-a-dir'), 'x');
    stack = await startStack({
      label: 'edge-settings',
      env: {
        CORS_ORIGINS: 'https://app.example.com, http://localhost:3000',
        TRUST_PROXY: 'loopback',
        AUTH_FAILURES_PER_MIN: '5',
        WORKSPACE_DIR: join(dir, 'not-a-dir', 'workspaces'),
      },
    });
  });
  afterAll(async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a preflight from a listed origin and leaves an unlisted origin without CORS headers', async () => {
    const ok = await fetch(`${stack.baseUrl}/agent/execute`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const get = await fetch(`${stack.baseUrl}/agent/runs`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${TOKENS.acme}` } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    const other = await fetch(`${stack.baseUrl}/agent/runs`, { headers: { Origin: 'https://evil.example', Authorization: `Bearer ${TOKENS.acme}` } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keys the failed-auth limit on X-Forwarded-For from a trusted proxy, so one client behind the ingress does not lock out another', async () => {
    const wrong = (ip: string) => fetch(`${stack.baseUrl}/agent/runs`, { headers: { Authorization: 'Bearer wrong-token', 'X-Forwarded-For': ip } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await wrong('203.0.113.7')).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect((await wrong('203.0.113.8')).status).toBe(401);
  });

  it('says which dependency is down on /readyz without the error text or any path', async () => {
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    const text = await ready.text();
    expect(JSON.parse(text)).toEqual({ status: 'unavailable', down: ['workspace'], checks: { redis: 'ok', workspace: 'down' } });
    expect(text).not.toContain(dir);
    expect(text).not.toMatch(/ENOTDIR|EEXIST|\/tmp/);
  });
});

describe('TRUST_PROXY off (the default)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'edge-noproxy', env: { AUTH_FAILURES_PER_MIN: '3' } });
  });
  afterAll(() => stack.stop());

  it('ignores X-Forwarded-For: a client cannot dodge the failed-auth limit by inventing addresses', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await fetch(`${stack.baseUrl}/agent/runs`, { headers: { Authorization: 'Bearer wrong-token', 'X-Forwarded-For': `198.51.100.${i}` } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});
