import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AgentyardError, NotFoundError, PayloadTooLargeError, UnavailableError, ValidationError } from '@agentyard/core';
import type { Logger } from '@agentyard/observability';

/** body-parser reports its failures as errors with a `type`; map them to the contract. */
function fromBodyParser(err: { type?: string; message?: string; limit?: number }): AgentyardError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return ValidationError.field('body', `not valid JSON: ${err.message ?? 'parse error'}`);
    case 'entity.too.large':
      return new PayloadTooLargeError(`request body is larger than the limit of ${err.limit ?? '?'} bytes`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return ValidationError.field('body', err.message ?? 'unsupported encoding');
    case 'request.aborted':
      return ValidationError.field('body', 'request was aborted by the client');
    default:
      return undefined;
  }
}

/** The router could not percent-decode a path parameter (`/agent/runs/%E0%A4%A`). */
function fromBadPath(err: unknown): AgentyardError | undefined {
  if (!(err instanceof URIError)) return undefined;
  return ValidationError.field('path', `not a valid percent-encoded URL path: ${err.message}`);
}

/** ioredis and BullMQ failures mean a dependency is down: 503, never 500. */
function isDependencyDown(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'ETIMEDOUT' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(e?.message ?? '')
  );
}

export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let e: AgentyardError;
    if (err instanceof AgentyardError) e = err;
    else e = fromBodyParser(err) ?? fromBadPath(err) ?? (isDependencyDown(err) ? new UnavailableError('a dependency (Redis or storage) is unavailable', err) : undefined) ?? new AgentyardError('internal', 'internal error', { status: 500 });
    if (e.status >= 500) (req.log ?? logger).error({ err }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.retryAfterS !== undefined) res.set('Retry-After', String(e.retryAfterS));
    res.status(e.status).json({
      error: { code: e.code, message: e.message, ...(e.details.length > 0 ? { details: e.details } : {}) },
    });
  };
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new NotFoundError('route', `${req.method} ${req.path}`));
};
