import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLogger } from '@agentyard/observability';
import { createErrorHandler } from './error-handler';

describe('every body-parser error type', () => {
  // The types body-parser 2 and raw-body 3 raise (lib/read.js, lib/types/*.js), plus zlib's
  // untyped failure on a body that is not what its Content-Encoding says.
  const TYPES: Array<[string, Record<string, unknown>, number]> = [
    ['entity.parse.failed', { type: 'entity.parse.failed', status: 400 }, 400],
    ['entity.verify.failed', { type: 'entity.verify.failed', status: 403 }, 400],
    ['entity.too.large', { type: 'entity.too.large', status: 413, limit: 10 }, 413],
    ['request.size.invalid', { type: 'request.size.invalid', status: 400 }, 400],
    ['request.aborted', { type: 'request.aborted', status: 400 }, 400],
    ['encoding.unsupported', { type: 'encoding.unsupported', status: 415 }, 400],
    ['charset.unsupported', { type: 'charset.unsupported', status: 415 }, 400],
    ['parameters.too.many', { type: 'parameters.too.many', status: 413 }, 400],
    ['stream.encoding.set', { type: 'stream.encoding.set', status: 500, expose: false }, 400],
    ['stream.not.readable', { type: 'stream.not.readable', status: 500, expose: false }, 400],
    ['zlib Z_DATA_ERROR', { code: 'Z_DATA_ERROR', status: 400, expose: true }, 400],
    ['an untyped http-error 400', { status: 400, expose: true }, 400],
  ];
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let base: string;
  beforeAll(async () => {
    const app = express();
    app.get('/throw/:i', (req) => {
      throw Object.assign(new Error(`body-parser said ${req.params.i}`), TYPES[Number(req.params.i)]![1]);
    });
    app.use(createErrorHandler(createLogger({ level: 'silent', name: 'test' })));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each(TYPES.map((t, i) => [t[0], t[2], i] as const))('maps %s to %i in the envelope', async (_name, status, i) => {
    const res = await fetch(`${base}/throw/${i}`);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(status === 413 ? 'payload_too_large' : 'invalid_request');
    expect(typeof body.error.message).toBe('string');
  });
});
