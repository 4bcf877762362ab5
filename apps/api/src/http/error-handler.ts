import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AgentyardError, NotFoundError, PayloadTooLargeError, UnavailableError, ValidationError } from '@agentyard/core';
import type { Logger } from '@agentyard/observability';
import { requestFields } from './access-log';

/**
 * body-parser (and raw-body under it) reports its failures as http-errors with a `type`; each
 * is the client's doing, so each maps to a 4xx in the envelope. The types, from body-parser
 * 2.x lib/read.js and lib/types/*.js and raw-body 3.x: entity.parse.failed,
 * entity.verify.failed, entity.too.large, request.size.invalid, request.aborted,
 * encoding.unsupported, charset.unsupported, parameters.too.many, stream.encoding.set,
 * stream.not.readable. A body that says `Content-Encoding: gzip` (or deflate, br) but is not
 * compressed fails in zlib and arrives with no type, only status 400 and a `Z_...` code.
 */
type BodyParserError = { type?: string; message?: string; limit?: number; status?: number; statusCode?: number; expose?: boolean; code?: string };

function fromBodyParser(err: BodyParserError, contentEncoding: string | undefined): AgentyardError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  switch (err.type) {
    case 'entity.parse.failed':
      return ValidationError.field('body', `not valid JSON: ${err.message ?? 'parse error'}`);
    case 'entity.verify.failed':
      return ValidationError.field('body', err.message ?? 'the body failed verification');
    case 'entity.too.large':
      return new PayloadTooLargeError(`request body is larger than the limit of ${err.limit ?? '?'} bytes`);
    case 'request.size.invalid':
      return ValidationError.field('body', 'the body is not as long as its Content-Length says');
    case 'request.aborted':
      return ValidationError.field('body', 'request was aborted by the client');
    case 'encoding.unsupported':
      return ValidationError.field('Content-Encoding', `${err.message ?? 'unsupported content encoding'}; use gzip, deflate, br or none`);
    case 'charset.unsupported':
      return ValidationError.field('Content-Type', `${err.message ?? 'unsupported charset'}; send UTF-8`);
    case 'parameters.too.many':
      return ValidationError.field('body', 'too many parameters');
    case 'stream.encoding.set':
    case 'stream.not.readable':
      // Only a middleware reading the body before the parser causes these; still the request's
      // body that could not be read, and never worth a 500 to the client.
      return ValidationError.field('body', 'the request body could not be read');
  }
  // Any other error body-parser (http-errors) marked as the client's fault.
  const status = err.status ?? err.statusCode;
  if (err.expose === true && typeof status === 'number' && status >= 400 && status < 500) {
    // zlib's (Z_DATA_ERROR) or brotli's (ERR__ERROR_FORMAT_...) complaint about the body.
    const encoded = contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity';
    if (encoded || (typeof err.code === 'string' && err.code.startsWith('Z_'))) {
      return ValidationError.field('Content-Encoding', `the body is not encoded as its Content-Encoding says (${err.message ?? err.code})`);
    }
    return status === 413 ? new PayloadTooLargeError(err.message ?? 'request body too large') : ValidationError.field('body', err.message ?? 'bad request body');
  }
  return undefined;
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

/** `onError`: every error answer's code and status, for agentyard_api_errors_total. */
export function createErrorHandler(logger: Logger, onError?: (code: string, status: number) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let e: AgentyardError;
    if (err instanceof AgentyardError) e = err;
    else e = fromBodyParser(err, req.get('content-encoding')) ?? fromBadPath(err) ?? (isDependencyDown(err) ? new UnavailableError('a dependency (Redis or storage) is unavailable', err) : undefined) ?? new AgentyardError('internal', 'internal error', { status: 500 });
    onError?.(e.code, e.status);
    if (e.status >= 500) logger.error({ req: requestFields(req), err }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.retryAfterS !== undefined) res.set('Retry-After', String(e.retryAfterS));
    res.status(e.status).json({
      error: {
        code: e.code,
        message: e.message,
        ...reasonOf(e),
        // Said only when true: a client (or a fuzzer) may count on the rest of the envelope as it was.
        ...(e.retryable && e.status < 500 ? { retryable: true } : {}),
        ...(e.details.length > 0 ? { details: e.details } : {}),
      },
      ...recordOf(e),
    });
  };
}

/** A refused credential's bounded reason (AuthRejectedError), as `error.reason`. */
const reasonOf = (e: AgentyardError): { reason?: string } => {
  const reason = (e as { reason?: unknown }).reason;
  return typeof reason === 'string' ? { reason } : {};
};

/** A refused or timed-out invocation's record (its id to read it back), beside the error. */
const recordOf = (e: AgentyardError): { invocation?: unknown } => {
  const invocation = (e as { invocation?: unknown }).invocation;
  return typeof invocation === 'object' && invocation !== null ? { invocation } : {};
};

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new NotFoundError('route', `${req.method} ${req.path}`));
};
