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
  /**
   * Mounted before auth: starts reading the address's failures (not waited for: the read
   * overlaps the credential check) and counts the request if it ends in 401.
   */
  middleware: RequestHandler;
  /** Once auth decided, whatever it decided: the 429 of an address that spent its budget, if it has. */
  verdict(res: Response): Promise<RateLimitedError | undefined>;
}

const VERDICT = 'authFailureVerdict';
const KEY_CACHE_SIZE = 10_000;

/**
 * Per-address limit on requests that fail authentication (401), so a blocked address cannot
 * go on guessing: once an address has `perMinute` failures in the window, every request from
 * it gets 429, a right token included. Only 401s are counted, when they end: a request that
 * authenticates never touches the count, so neither open SSE streams nor a burst of good
 * requests from an ingress's address can use up the budget (the previous count-on-arrival,
 * give-back-at-auth design refused a burst of 30 good streams under a budget of 20 once Redis
 * commands were pipelined, and cost two commands per request where this costs one read,
 * read while the credential is checked). The price: guesses sent in parallel are all checked
 * before any of them is counted, so a burst can overshoot the budget by its own size. Keyed
 * on the client address as `TRUST_PROXY` resolves it. Counted with rate-limit-redis's store
 * (the keys and window express-rate-limit would use); when Redis cannot answer, the request
 * goes through.
 */
export function createAuthFailureLimit(opts: LimitOptions): AuthFailureLimit | undefined {
  if (opts.perMinute <= 0) return undefined;
  const store = redisStore(opts, 'authfail');
  // express-rate-limit would call init; every get/increment awaits its script loads, and a
  // load that failed (Redis gone at start-up) fails those calls, which let requests through.
  store.init({ windowMs: WINDOW_MS } as Options).catch(() => undefined);
  const refusal = `Too many failed authentications from this address: ${opts.perMinute} per minute`;
  const blocked = (key: string): Promise<RateLimitedError | undefined> =>
    store.get(key).then(
      (info) => {
        // An address without failures reads as NaN hits (the store parses Redis' nil): not refused.
        if (!info || !(info.totalHits >= opts.perMinute)) return undefined;
        return new RateLimitedError(refusal, Math.max(1, Math.ceil((info.resetTime!.getTime() - Date.now()) / 1000)));
      },
      () => undefined,
    );
  // ipKeyGenerator parses every IPv6 address (an IPv4 client of a dual-stack listener is
  // `::ffff:a.b.c.d`) to find its subnet: 3.4 % of the API's CPU under create+start load.
  // The keys of recent addresses are kept, and forgotten all at once past KEY_CACHE_SIZE.
  const keys = new Map<string, string>();
  const addressKey = (ip: string): string => {
    let key = keys.get(ip);
    if (key === undefined) {
      if (keys.size >= KEY_CACHE_SIZE) keys.clear();
      key = ipKeyGenerator(ip);
      keys.set(ip, key);
    }
    return key;
  };
  return {
    middleware: (req, res, next) => {
      const key = addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown');
      res.once('finish', () => {
        // A count that cannot be written is a guess not counted; the window bounds the loss.
        if (res.statusCode === 401) store.increment(key).catch(() => undefined);
      });
      res.locals[VERDICT] = blocked(key);
      next();
    },
    verdict: (res) => (res.locals[VERDICT] as Promise<RateLimitedError | undefined> | undefined) ?? Promise.resolve(undefined),
  };
}
