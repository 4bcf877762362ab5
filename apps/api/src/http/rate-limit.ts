import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type Redis from 'ioredis';
import { RateLimitedError } from '@agentyard/core';
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
function redisStore(o: LimitOptions, name: string): RedisStore {
  return new RedisStore({
    prefix: `${o.prefix}${name}:`,
    sendCommand: (command: string, ...args: string[]) => o.redis.call(command, ...args) as Promise<RedisReply>,
  });
}

function redisLimit(o: LimitOptions, name: string, refusal: string, extra: Partial<Options>): RequestHandler | undefined {
  if (o.perMinute <= 0) return undefined;
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: o.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    validate: { xForwardedForHeader: false },
    store: redisStore(o, name),
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

export interface AuthFailureLimit {
  /** Mounted before auth: counts the request against its address, 429 beyond the budget. */
  middleware: RequestHandler;
  /** Called once auth accepted the request: gives its count back at once. */
  release(res: Response): void;
}

const COUNTED_KEY = 'authFailureKey';
const RELEASED = 'authFailureReleased';

/**
 * Per-address limit on requests that fail authentication (401), mounted before auth, so a
 * blocked address cannot go on guessing: a request counts when it arrives. The count is given
 * back the moment auth accepts the request, not when its response ends (express-rate-limit's
 * skipSuccessfulRequests alone), or every open SSE stream would hold one and the 101st stream
 * from an ingress's address would be refused. Keyed on the client address as `TRUST_PROXY`
 * resolves it.
 */
export function createAuthFailureLimit(opts: LimitOptions): AuthFailureLimit | undefined {
  if (opts.perMinute <= 0) return undefined;
  const store = redisStore(opts, 'authfail');
  const middleware = redisLimit(opts, 'authfail', `Too many failed authentications from this address: ${opts.perMinute} per minute`, {
    store,
    keyGenerator: (req, res) => {
      const key = ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
      res.locals[COUNTED_KEY] = key;
      return key;
    },
    skipSuccessfulRequests: true,
    // A request released at auth has been given back already; the rest are given back here
    // unless they ended in 401.
    requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.locals[RELEASED] !== true,
  })!;
  return {
    middleware,
    release: (res) => {
      const key = res.locals[COUNTED_KEY];
      if (typeof key !== 'string' || res.locals[RELEASED] === true) return;
      res.locals[RELEASED] = true;
      // A count that cannot be given back expires with its window.
      store.decrement(key).catch(() => undefined);
    },
  };
}
