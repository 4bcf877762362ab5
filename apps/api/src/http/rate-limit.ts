import type { RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type Redis from 'ioredis';
import { RateLimitedError } from '@agentyard/core';
import { authOf } from './auth';

const WINDOW_MS = 60_000;
const WINDOW_S = WINDOW_MS / 1000;

/**
 * The limits' Redis scripts: fixed one-minute windows, counted exactly as rate-limit-redis
 * counts them for express-rate-limit (the same keys, `<prefix>ratelimit:<tenant>` and
 * `<prefix>authfail:<address>`, and the same arithmetic), so replicas of an older API share
 * the counts during a rolling upgrade.
 *
 * ayLimitHit: KEYS 1 the tenant's counter, 2 (optional) the address's failed-auth counter;
 *   ARGV 1 window ms. Counts the request against its tenant and reads the address's failures
 *   in one call. Returns {hits, ms left, failures (nil = none), their ms left}.
 * ayLimitRead: KEYS 1 a counter. Returns {hits (nil = none), ms left}.
 * ayLimitCount: KEYS 1 a counter; ARGV 1 window ms. Counts one. Returns {hits, ms left}.
 */
const COUNT_LUA = `
local function count(key, windowMs)
  local ttl = redis.call('PTTL', key)
  if ttl <= 0 then
    redis.call('SET', key, 1, 'PX', windowMs)
    return 1, windowMs
  end
  return redis.call('INCR', key), ttl
end`;
const SCRIPTS = {
  ayLimitHit: {
    keys: undefined,
    lua: `${COUNT_LUA}
local hits, ttl = count(KEYS[1], tonumber(ARGV[1]))
if #KEYS < 2 then return {hits, ttl} end
return {hits, ttl, redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2])}`,
  },
  ayLimitRead: { keys: 1, lua: `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}` },
  ayLimitCount: { keys: 1, lua: `${COUNT_LUA}\nreturn {count(KEYS[1], tonumber(ARGV[1]))}` },
} as const;

type Reply = [number | string | null, number, (string | null)?, number?];
type Scripted = Redis & {
  ayLimitHit(numberOfKeys: number, ...args: (string | number)[]): Promise<Reply>;
  ayLimitRead(key: string): Promise<Reply>;
  ayLimitCount(key: string, windowMs: number): Promise<Reply>;
};

function scripted(redis: Redis): Scripted {
  if (!('ayLimitHit' in redis)) {
    for (const [name, s] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua: s.lua, ...(s.keys ? { numberOfKeys: s.keys } : {}) });
  }
  return redis as Scripted;
}

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
  /** Once auth decided, whatever it decided: the 429 of an address that spent its budget, if it has. */
  verdict(res: Response): Promise<RateLimitedError | undefined>;
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
 * An authenticated request costs one script for both (its tenant counted, its address's
 * failures read): express-rate-limit and rate-limit-redis, which did this before, took a
 * command each, and a dozen awaits, validations and debug calls per request.
 */
export function createRequestLimits(opts: LimitOptions): RequestLimits {
  const redis = scripted(opts.redis);
  const tenantKey = (tenant: string) => `${opts.prefix}ratelimit:${tenant}`;
  const failureKey = (address: string) => `${opts.prefix}authfail:${address}`;
  const perTenant = opts.perTenantPerMinute;
  const perAddress = opts.authFailuresPerMinute;
  const tenantRefusal = `Too many requests: this tenant may make ${perTenant} per minute`;
  const addressRefusal = `Too many failed authentications from this address: ${perAddress} per minute`;
  const blocked = (failures: string | null | undefined, msLeft: number | undefined): RateLimitedError | undefined =>
    failures != null && Number(failures) >= perAddress ? new RateLimitedError(addressRefusal, secondsLeft(msLeft ?? WINDOW_MS)) : undefined;

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
              if (res.statusCode === 401) redis.ayLimitCount(key, WINDOW_MS).catch(() => undefined);
            });
          },
          verdict: (res) => {
            const key = keyOf(res);
            if (key === undefined) return Promise.resolve(undefined);
            return redis.ayLimitRead(key).then(
              ([failures, msLeft]) => blocked(failures as string | null, msLeft),
              () => undefined,
            );
          },
        }
      : undefined;

  const rateLimit: RequestHandler | undefined =
    perTenant > 0
      ? (req, res, next) => {
          const address = authFailureLimit ? keyOf(res) : undefined;
          const args = address === undefined ? [1, tenantKey(authOf(res).tenant), WINDOW_MS] : [2, tenantKey(authOf(res).tenant), address, WINDOW_MS];
          redis.ayLimitHit(...(args as [number, ...(string | number)[]])).then(
            ([hits, msLeft, failures, failuresMsLeft]) => {
              const used = Number(hits);
              if (!res.headersSent) {
                res.setHeader('RateLimit-Policy', `${perTenant};w=${WINDOW_S}`);
                res.setHeader('RateLimit', `limit=${perTenant}, remaining=${Math.max(perTenant - used, 0)}, reset=${Math.max(0, Math.ceil(msLeft / 1000))}`);
              }
              // An address that spent its failed-auth budget is refused whatever its tenant's count.
              next(blocked(failures, failuresMsLeft) ?? (used > perTenant ? new RateLimitedError(tenantRefusal, secondsLeft(msLeft)) : undefined));
            },
            // Redis could not count: the request goes through, its address unchecked too.
            () => next(),
          );
        }
      : undefined;

  return { ...(rateLimit ? { rateLimit } : {}), ...(authFailureLimit ? { authFailureLimit } : {}) };
}

/**
 * An authentication middleware behind both limits: once it decided, an authenticated request
 * counts against its tenant (one script that also reads its address's failures, when the
 * tenant limit is on), and an address that spent its failed-auth budget gets that 429
 * instead, whatever auth decided; a refused credential has its address's failures read, and
 * its 401 counted as it ends.
 */
export function limitedAuth(authenticate: RequestHandler, limits: { [K in keyof RequestLimits]?: RequestLimits[K] | undefined }): RequestHandler {
  const { rateLimit: limit, authFailureLimit: failures } = limits;
  return (req, res, next) =>
    authenticate(req, res, (err?: unknown) => {
      if (!err && limit) return limit(req, res, next);
      if (err) failures?.refused(res);
      const verdict = failures?.verdict(res);
      if (!verdict) return next(err);
      void verdict.then((blocked) => next(blocked ?? err));
    });
}
