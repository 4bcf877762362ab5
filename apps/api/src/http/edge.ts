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
    helmet({
      // The API serves JSON and workspace files, never pages: nothing may load, run or frame
      // anything, so a stored HTML file opened in a browser cannot run script either.
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    }),
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
