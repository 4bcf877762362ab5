import type { RequestHandler } from 'express';
import cors from 'cors';
import helmet from 'helmet';
import { bodyProblem, ValidationError } from '@agentyard/core';

/**
 * What every response carries and what browsers may do with it. helmet's headers (nosniff,
 * a CSP of `default-src 'none'`, no referrer, HSTS, same-origin resource policy) cost a JSON
 * API nothing. CORS is off unless CORS_ORIGINS lists origins: without it a browser page
 * elsewhere cannot read any answer, which is what an API holding bearer tokens wants.
 */
export function edgeHeaders(corsOrigins: readonly string[]): RequestHandler[] {
  const out: RequestHandler[] = [
    fixedHeaders(
      helmet({
        // The API serves JSON and workspace files, never pages: nothing may load, run or frame
        // anything, so a stored HTML file opened in a browser cannot run script either.
        contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      }),
    ),
  ];
  if (corsOrigins.length > 0) {
    out.push(
      cors({
        origin: [...corsOrigins],
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-Correlation-Id'],
        exposedHeaders: ['Retry-After', 'RateLimit', 'RateLimit-Policy'],
        // Bearer tokens, never cookies: nothing a browser would attach on its own.
        credentials: false,
        maxAge: 600,
      }),
    );
  }
  return out;
}

/**
 * A header-only middleware whose headers never depend on the request (helmet's, with no CSP
 * nonce), run once at start-up and replayed: helmet runs a dozen middlewares per request,
 * each re-validating its header (2 % of the API's CPU under create+start load). The same
 * headers in the same order; a header it removes is removed.
 */
export function fixedHeaders(middleware: RequestHandler): RequestHandler {
  const set: [string, string | string[]][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: string | number | string[]) => void set.push([name, Array.isArray(value) ? value : String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  };
  let called = false;
  void middleware({} as never, recorder as never, ((err?: unknown) => {
    if (err) throw err;
    called = true;
  }) as never);
  // A middleware that did not finish synchronously with headers only cannot be replayed.
  if (!called) throw new Error('fixedHeaders: the middleware did not call next synchronously');
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}

/** API_STEP_ARGS_LIMIT's default, for apps built without the config (tests). */
export const DEFAULT_STEP_ARGS_BYTES = 1024 * 1024;

/**
 * One step's (or one invocation's) `args` is at most `limit` bytes as JSON: the body limit
 * bounds a whole plan, this keeps one step from being most of it, since args are stored in the
 * run record, echoed in step events and handed to the model as context. A 400 naming the field.
 */
export function checkArgsSize(args: unknown, limit: number, path: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(args ?? {}), 'utf8');
  if (bytes > limit) throw ValidationError.field(path, `${bytes} bytes as JSON, over the limit of ${limit} bytes per step (API_STEP_ARGS_LIMIT)`);
}

/**
 * Runs after the JSON parser, before any route: a body nested deeper than MAX_BODY_DEPTH or
 * holding `__proto__`, `constructor` or `prototype` as a key anywhere is a 400 naming the field.
 */
export const bodyGuard: RequestHandler = (req, _res, next) => {
  const problem = req.body === undefined ? undefined : bodyProblem(req.body);
  next(problem ? ValidationError.field(problem.path, problem.message) : undefined);
};
