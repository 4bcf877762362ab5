import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { createLogger } from '@agentyard/observability';
import { accessLog } from './access-log';
import { createErrorHandler } from './error-handler';

describe('accessLog', () => {
  it('writes one line per request with id, method, redacted url, status and time; a 5xx at error level', async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({ write: (chunk, _enc, cb) => (lines.push(JSON.parse(String(chunk))), cb()) });
    const logger = createLogger({ level: 'info', name: 'test', destination, secrets: ['tok_in_the_path'] });
    const app = express();
    app.use(accessLog(logger, { ignore: (url) => url === '/healthz' }));
    app.get('/healthz', (_req, res) => void res.end());
    app.post('/made', (_req, res) => void res.status(201).json({}));
    app.get('/boom', () => {
      throw new Error('broken');
    });
    app.use(createErrorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await fetch(`${base}/healthz`);
      await fetch(`${base}/made?access_token=SECRET1&a=1`, { method: 'POST' });
      await fetch(`${base}/boom`);
      await fetch(`${base}/files/tok_in_the_path`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      server.closeAllConnections();
      server.close();
    }
    const access = lines.filter((l) => l.msg === 'request completed' || l.msg === 'request errored');
    expect(access).toHaveLength(3);
    expect(access[0]).toMatchObject({ level: 30, req: { id: 2, method: 'POST', url: '/made?access_token=[redacted]&a=1' }, res: { statusCode: 201 }, msg: 'request completed' });
    expect(typeof access[0]!.responseTime).toBe('number');
    expect(access[1]).toMatchObject({ level: 50, req: { id: 3, method: 'GET', url: '/boom' }, res: { statusCode: 500 }, msg: 'request errored' });
    // The error handler's line names the same request.
    expect(lines.find((l) => l.msg === 'request failed')).toMatchObject({ level: 50, req: { id: 3, url: '/boom' }, err: { message: 'broken' } });
    // The logger's scrub of secret values reaches the access line too.
    expect(access[2]).toMatchObject({ req: { url: '/files/[redacted]' }, res: { statusCode: 404 } });
    expect(JSON.stringify(lines)).not.toContain('SECRET1');
    expect(JSON.stringify(lines)).not.toContain('tok_in_the_path');
  });
});
