import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type Redis from 'ioredis';
import { RateLimitedError } from '@agentyard/core';
import { authOf } from './auth';

const WINDOW_MS = 60_000;

/**
 * Per-tenant request limit, counted in Redis so every API replica shares one budget.
 * Runs after auth (it keys on the tenant, never on an IP). When Redis cannot count, the
 * request goes through: the route itself will answer 503 if Redis is really gone.
 */
export function createRateLimit(opts: { redis: Redis; prefix: string; perMinute: number }): RequestHandler | undefined {
  if (opts.perMinute <= 0) return undefined;
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: opts.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    // Keyed on the tenant, so proxies' X-Forwarded-For (an ingress sets it) does not matter.
    validate: { xForwardedForHeader: false },
    keyGenerator: (_req, res) => authOf(res).tenant,
    store: new RedisStore({
      prefix: `${opts.prefix}ratelimit:`,
      sendCommand: (command: string, ...args: string[]) => opts.redis.call(command, ...args) as Promise<RedisReply>,
    }),
    handler: (req, _res, next) => {
      const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfterS = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000));
      next(new RateLimitedError(`Too many requests: this tenant may make ${opts.perMinute} per minute`, retryAfterS));
    },
  });
}

/**
 * Per-address limit on requests that fail authentication (401), mounted before auth: a
 * request counts when it arrives and is uncounted when it ends in anything but 401, so only
 * failures use the budget. Shared through Redis like the tenant limit. Keyed on the socket
 * address (`trust proxy` is off): behind an ingress every client shares the ingress's
 * address, so size it for that or key on the forwarded address there.
 */
export function createAuthFailureLimit(opts: { redis: Redis; prefix: string; perMinute: number }): RequestHandler | undefined {
  if (opts.perMinute <= 0) return undefined;
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: opts.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401,
    validate: { xForwardedForHeader: false },
    store: new RedisStore({
      prefix: `${opts.prefix}authfail:`,
      sendCommand: (command: string, ...args: string[]) => opts.redis.call(command, ...args) as Promise<RedisReply>,
    }),
    handler: (req, _res, next) => {
      const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfterS = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000));
      next(new RateLimitedError(`Too many failed authentications from this address: ${opts.perMinute} per minute`, retryAfterS));
    },
  });
}
