import type { RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type Redis from 'ioredis';
import { RateLimitedError } from '@agentyard/core';
import { authOf } from './auth';
import { createWindowCounters, type Reading } from './window-counters';

const WINDOW_MS = 60_000;
const WINDOW_S = WINDOW_MS / 1000;

export interface LimitOptions {
  redis: Redis;
  prefix: string;
  /** Requests per tenant per minute (RATE_LIMIT_PER_MIN); 0 = off. */
  perTenantPerMinute: number;
  /** Failed authentications per address per minute (AUTH_FAILURES_PER_MIN); 0 = off. */
  authFailuresPerMinute: number;
}

export interface AuthFailureLimit {
  /** Mounted before auth: finds the address's key. */
  middleware: RequestHandler;
  /** Auth refused the request: it counts against its address if its answer is a 401. */
  refused(res: Response): void;
  /** Auth refused the request: the 429 of an address that spent its budget, if it has (read in Redis). */
  verdict(res: Response): Promise<RateLimitedError | undefined>;
  /**
   * Auth accepted the request (and no tenant limit counts it): the same 429, decided on this
   * process's view of the address's count, at once when the view is fresh (window-counters.ts).
   */
  admitted(res: Response): RateLimitedError | undefined | Promise<RateLimitedError | undefined>;
}

export interface RequestLimits {
  /** Per-tenant request limit, run after auth; none when the limit is off. */
  rateLimit?: RequestHandler;
  /** Per-address limit on failed authentications, run before auth; none when off. */
  authFailureLimit?: AuthFailureLimit;
}

const ADDRESS_KEY = 'authFailureKey';
const KEY_CACHE_SIZE = 10_000;
const secondsLeft = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Both request limits, counted in Redis so every API replica shares one budget; when Redis
 * cannot count, the request goes through (the route itself answers 503 if Redis is really gone).
 *
 * Per tenant: every authenticated request counts against its tenant, keyed on the tenant and
 * never on an IP (so an ingress's X-Forwarded-For does not matter); beyond the limit a 429
 * rate_limited with Retry-After. Every answer carries the IETF draft-7 `RateLimit-Policy` and
 * `RateLimit` headers.
 *
 * Per address, on failed authentications (401), so a blocked address cannot go on guessing:
 * once an address has `authFailuresPerMinute` failures in the window, every request from it
 * gets 429, a right token included. Only 401s are counted, when they end: a request that
 * authenticates never touches the count, so neither open SSE streams nor a burst of good
 * requests from an ingress's address can use up the budget. The price: guesses sent in
 * parallel are all checked before any of them is counted, so a burst can overshoot the budget
 * by its own size. Keyed on the client address as `TRUST_PROXY` resolves it.
 *
 * Both are counted in rate-limit-redis's keys (`<prefix>ratelimit:<tenant>`,
 * `<prefix>authfail:<address>`) and arithmetic, so replicas of an older API share the counts
 * during a rolling upgrade. An authenticated request does not wait for Redis: its tenant is
 * counted and its address's failures read by this process's view of the counters
 * (window-counters.ts), which syncs what a tick counted in one script and waits only when its
 * view is more than a second old; a replica's decision can trail the others' by the round
 * trip of that sync. Refused credentials are read and counted in Redis directly.
 * express-rate-limit and rate-limit-redis, which did this before, took a command and a round
 * trip per limit, and a dozen awaits, validations and debug calls per request.
 */
export function createRequestLimits(opts: LimitOptions): RequestLimits {
  const counters = createWindowCounters({ redis: opts.redis, windowMs: WINDOW_MS });
  const tenantKey = (tenant: string) => `${opts.prefix}ratelimit:${tenant}`;
  const failureKey = (address: string) => `${opts.prefix}authfail:${address}`;
  const perTenant = opts.perTenantPerMinute;
  const perAddress = opts.authFailuresPerMinute;
  const tenantRefusal = `Too many requests: this tenant may make ${perTenant} per minute`;
  const addressRefusal = `Too many failed authentications from this address: ${perAddress} per minute`;
  const blocked = (failures: Reading): RateLimitedError | undefined =>
    failures !== undefined && failures.hits >= perAddress ? new RateLimitedError(addressRefusal, secondsLeft(failures.msLeft)) : undefined;

  // ipKeyGenerator parses every IPv6 address (an IPv4 client of a dual-stack listener is
  // `::ffff:a.b.c.d`) to find its subnet: 3.4 % of the API's CPU under create+start load.
  // The keys of recent addresses are kept, and forgotten all at once past KEY_CACHE_SIZE.
  const keys = new Map<string, string>();
  const addressKey = (ip: string): string => {
    let key = keys.get(ip);
    if (key === undefined) {
      if (keys.size >= KEY_CACHE_SIZE) keys.clear();
      key = failureKey(ipKeyGenerator(ip));
      keys.set(ip, key);
    }
    return key;
  };
  const keyOf = (res: Response) => res.locals[ADDRESS_KEY] as string | undefined;

  const authFailureLimit: AuthFailureLimit | undefined =
    perAddress > 0
      ? {
          middleware: (req, res, next) => {
            const key = addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown');
            res.locals[ADDRESS_KEY] = key;
            next();
          },
          // Only a refused request listens for its end: one that authenticated (an SSE stream
          // above all, open for hours) holds no listener for a count it can never make.
          refused: (res) => {
            const key = keyOf(res);
            if (key === undefined) return;
            res.once('finish', () => {
              // A count that cannot be written is a guess not counted; the window bounds the loss.
              if (res.statusCode === 401) counters.count(key).catch(() => undefined);
            });
          },
          verdict: (res) => {
            const key = keyOf(res);
            if (key === undefined) return Promise.resolve(undefined);
            return counters.read(key).then(blocked, () => undefined);
          },
          admitted: (res) => {
            const key = keyOf(res);
            if (key === undefined) return undefined;
            const seen = counters.peek(key);
            return seen instanceof Promise ? seen.then(blocked) : blocked(seen);
          },
        }
      : undefined;

  const rateLimit: RequestHandler | undefined =
    perTenant > 0
      ? (_req, res, next) => {
          const address = authFailureLimit ? keyOf(res) : undefined;
          const tenant = counters.hit(tenantKey(authOf(res).tenant));
          const failures = address === undefined ? undefined : counters.peek(address);
          const decide = (t: Reading, f: Reading) => {
            // Redis could not count: the request goes through, its address unchecked too.
            if (t === undefined) return next();
            if (!res.headersSent) {
              res.setHeader('RateLimit-Policy', `${perTenant};w=${WINDOW_S}`);
              res.setHeader('RateLimit', `limit=${perTenant}, remaining=${Math.max(perTenant - t.hits, 0)}, reset=${Math.max(0, Math.ceil(t.msLeft / 1000))}`);
            }
            // An address that spent its failed-auth budget is refused whatever its tenant's count.
            next(blocked(f) ?? (t.hits > perTenant ? new RateLimitedError(tenantRefusal, secondsLeft(t.msLeft)) : undefined));
          };
          if (tenant instanceof Promise || failures instanceof Promise) void Promise.all([tenant, failures]).then(([t, f]) => decide(t, f));
          else decide(tenant, failures);
        }
      : undefined;

  return { ...(rateLimit ? { rateLimit } : {}), ...(authFailureLimit ? { authFailureLimit } : {}) };
}

/**
 * An authentication middleware behind both limits: once it decided, an authenticated request
 * counts against its tenant and has its address's failures checked, both on this process's
 * view of the counters (with the tenant limit off, the address alone), and an address that
 * spent its failed-auth budget gets that 429 instead, whatever auth decided; a refused
 * credential has its address's failures read in Redis, and its 401 counted as it ends.
 */
export function limitedAuth(authenticate: RequestHandler, limits: { [K in keyof RequestLimits]?: RequestLimits[K] | undefined }): RequestHandler {
  const { rateLimit: limit, authFailureLimit: failures } = limits;
  return (req, res, next) =>
    authenticate(req, res, (err?: unknown) => {
      if (!err && limit) return limit(req, res, next);
      if (!failures) return next(err);
      if (err) {
        failures.refused(res);
        void failures.verdict(res).then((blocked) => next(blocked ?? err));
        return;
      }
      const blocked = failures.admitted(res);
      if (blocked instanceof Promise) void blocked.then((b) => next(b));
      else next(blocked);
    });
}
