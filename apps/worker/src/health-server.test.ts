import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createRegistry } from '@agentyard/observability';
import { createHealthServer } from './health-server';

/** Sends raw bytes and resolves to everything the server answered before closing. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe("the worker's health port over real HTTP", () => {
  let server: Server;
  let base: string;
  let port: number;
  beforeAll(async () => {
    server = createHealthServer({ registry: createRegistry(), version: '1.2.3', ready: async () => ({ redis: 'ok', workspace: 'ok' }) });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('answers its endpoints with headers that let a browser do nothing with them', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/nope']) {
      const res = await fetch(`${base}${path}`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      await res.arrayBuffer();
    }
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', version: '1.2.3' });
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('not_found');
  });

  it('refuses other methods with 405 and Allow', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await res.json()).error.code).toBe('method_not_allowed');
  });

  it("answers what Node's parser refuses with the JSON envelope, not an empty 400", async () => {
    const big = await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(big.split('\r\n\r\n')[1]!).error.code).toBe('headers_too_large');
    const bad = await raw(port, 'NOT A REQUEST\r\n\r\n');
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(bad.split('\r\n\r\n')[1]!).error.code).toBe('invalid_request');
  });
});
