import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type Redis from 'ioredis';
import { AgentyardError, RateLimitedError } from '@agentyard/core';
import { authOf } from './auth';

const WINDOW_MS = 60_000;

interface LimitOptions {
  redis: Redis;
  prefix: string;
  perMinute: number;
}

/**
 * One express-rate-limit counted in Redis under `<prefix><name>:`, so every API replica shares
 * one budget; beyond it a 429 rate_limited with Retry-After. When Redis cannot count, the
 * request goes through: the route itself answers 503 if Redis is really gone.
 */
function redisLimit(o: LimitOptions, name: string, refusal: string, extra: Partial<Options>): RequestHandler | undefined {
  if (o.perMinute <= 0) return undefined;
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: o.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    validate: { xForwardedForHeader: false },
    store: new RedisStore({
      prefix: `${o.prefix}${name}:`,
      sendCommand: (command: string, ...args: string[]) => o.redis.call(command, ...args) as Promise<RedisReply>,
    }),
    handler: (req: Request, _res, next) => {
      const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfterS = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000));
      next(new RateLimitedError(refusal, retryAfterS));
    },
    ...extra,
  });
}

/**
 * Per-tenant request limit. Runs after auth and keys on the tenant, never on an IP, so
 * proxies' X-Forwarded-For (an ingress sets it) does not matter.
 */
export function createRateLimit(opts: LimitOptions): RequestHandler | undefined {
  return redisLimit(opts, 'ratelimit', `Too many requests: this tenant may make ${opts.perMinute} per minute`, {
    keyGenerator: (_req, res) => authOf(res).tenant,
  });
}

/** The failed-authentication limit: a gate before auth and a counter of its 401s. */
export interface AuthFailureLimit {
  /** Before any credential is checked: 429 once this address failed `perMinute` times this window. */
  gate: RequestHandler;
  /** An error middleware: counts a 401 against its address, then passes the error on. */
  count: ErrorRequestHandler;
}

/**
 * Per-address limit on requests that fail authentication (401). Only 401s are counted, when
 * they happen. express-rate-limit's skipSuccessfulRequests counted every request on arrival
 * and uncounted it when it ended, so requests in flight used the budget: 100 open SSE
 * streams from one address (or from every client behind one ingress) got each further
 * request 429 (scripts/chaos drill c). The counting is rate-limit-redis's store (one window
 * per address, shared by replicas); the gate reads it. Keyed on the socket address (`trust
 * proxy` is off): behind an ingress every client shares the ingress's address, so size it
 * for that. When Redis cannot count, requests go through: the route answers 503 if Redis is
 * really gone.
 */
export function createAuthFailureLimit(opts: LimitOptions): AuthFailureLimit | undefined {
  if (opts.perMinute <= 0) return undefined;
  const store = new RedisStore({
    prefix: `${opts.prefix}authfail:`,
    sendCommand: (command: string, ...args: string[]) => opts.redis.call(command, ...args) as Promise<RedisReply>,
  });
  // Loads the store's scripts; a failure here is retried by the store on first use.
  void Promise.resolve(store.init({ windowMs: WINDOW_MS } as Options)).catch(() => undefined);
  const keyOf = (req: Request) => ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
  const refusal = `Too many failed authentications from this address: ${opts.perMinute} per minute`;
  return {
    async gate(req, _res, next) {
      const hits = await store.get(keyOf(req)).catch(() => undefined);
      // An address with no failures this window reads as NaN hits: `>=` is false for it too.
      if (!hits || !(hits.totalHits >= opts.perMinute)) return next();
      const retryAfterS = Math.max(1, Math.ceil(((hits.resetTime?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000));
      next(new RateLimitedError(refusal, retryAfterS));
    },
    count(err, req, _res, next) {
      if (!(err instanceof AgentyardError) || err.status !== 401) return next(err);
      store.increment(keyOf(req)).then(
        () => next(err),
        () => next(err),
      );
    },
  };
}
