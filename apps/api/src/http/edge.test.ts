import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { edgeHeaders, fixedHeaders } from './edge';

/** The headers of a GET / through `mw` (X-Powered-By left on, so its removal shows). */
async function headersThrough(mw: RequestHandler | RequestHandler[]): Promise<[string, string][]> {
  const app = express();
  app.use(mw);
  app.get('/', (_req, res) => void res.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return [...res.headers.entries()].filter(([k]) => k !== 'date' && k !== 'etag');
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('fixedHeaders', () => {
  it("replays helmet's headers exactly, X-Powered-By removed", async () => {
    const options = { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } };
    const live = await headersThrough(helmet(options));
    expect(live.map(([k]) => k)).toContain('content-security-policy');
    expect(live.map(([k]) => k)).not.toContain('x-powered-by');
    expect(await headersThrough(fixedHeaders(helmet(options)))).toEqual(live);
    expect(await headersThrough(edgeHeaders([]))).toEqual(live);
  });

  it('refuses a middleware that does not finish synchronously', () => {
    expect(() => fixedHeaders((_req, _res, next) => void setImmediate(next))).toThrow(/synchronously/);
  });
});
