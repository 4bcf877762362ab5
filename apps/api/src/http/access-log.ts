import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '@agentyard/observability';
import { CREDENTIAL_QUERY_KEYS, rawQueryKeys } from './auth';

/** The URL with the value of every credential-carrying query key redacted, whatever its encoding. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const keys = rawQueryKeys(url);
  const parts = url.slice(q + 1).split('&').filter(Boolean);
  // rawQueryKeys names undecodable keys `?`: redacted too, since they may hide a credential key.
  return `${url.slice(0, q)}?${parts.map((p, i) => (CREDENTIAL_QUERY_KEYS.has(keys[i]!) || keys[i] === '?' ? `${p.split('=')[0]}=[redacted]` : p)).join('&')}`;
}

/** What the log says of a request: its id, method and redacted URL. */
export const requestFields = (req: Request, url: string = req.originalUrl) => ({ id: req.id, method: req.method, url: redactUrl(url) });

/**
 * One access-log line per request, written when the response finishes (or the client goes
 * away): `{ req: { id, method, url }, res: { statusCode }, responseTime }`, "request
 * completed"; a 5xx at error level, "request errored", as pino-http wrote them. pino-http
 * built a child logger per request from a full serialization of the request (all headers)
 * and serialized the whole response (all headers) again at the end, only for our serializers
 * to keep three fields: ~10 % of the API's CPU under create+start load. The url is passed
 * through `redactUrl` (credentials in a query string never reach the log).
 */
export function accessLog(logger: Logger, opts: { ignore: (url: string) => boolean }): RequestHandler {
  // The line holds only the fields built below, none of them a path the logger redacts (the
  // url is redacted here): pino's path redaction walked every line for nothing, ~2 % of the
  // CPU under create+start. The logger's scrub of configured secret values still runs on it.
  const lines = logger.child({}, { redact: { paths: [] } });
  let nextId = 0;
  return (req, res, next) => {
    nextId = (nextId + 1) & 0x7fffffff;
    req.id = nextId;
    if (opts.ignore(req.url)) return next();
    const started = Date.now();
    const url = req.originalUrl;
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      line(lines, req, res, url, Date.now() - started);
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}

function line(logger: Logger, req: Request, res: Response, url: string, responseTime: number): void {
  const fields = { req: requestFields(req, url), res: { statusCode: res.statusCode }, responseTime };
  if (res.statusCode >= 500) logger.error({ ...fields, err: new Error(`failed with status code ${res.statusCode}`) }, 'request errored');
  else logger.info(fields, 'request completed');
}

declare module 'http' {
  interface IncomingMessage {
    /** The access log's request id (a counter per process), also in the 5xx error line. */
    id: number;
  }
}
