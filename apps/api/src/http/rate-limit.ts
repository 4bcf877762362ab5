import type { Request, RequestHandler } from 'express';
import { rateLimit, type Options } from 'express-rate-limit';
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

/**
 * Per-address limit on requests that fail authentication (401), mounted before auth: a
 * request counts when it arrives and is uncounted when it ends in anything but 401, so only
 * failures use the budget. Keyed on the socket address (`trust proxy` is off): behind an
 * ingress every client shares the ingress's address, so size it for that.
 */
export function createAuthFailureLimit(opts: LimitOptions): RequestHandler | undefined {
  return redisLimit(opts, 'authfail', `Too many failed authentications from this address: ${opts.perMinute} per minute`, {
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401,
  });
}
