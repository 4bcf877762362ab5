import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import type Redis from 'ioredis';
// jose 6 is ESM-only; Node 24 loads it with require(esm), which tsc's Node16 mode does not model yet.
// @ts-ignore TS1479
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { ApiMetrics } from '@agentyard/observability';
import { CREDENTIAL_QUERY_KEYS, rawQueryKeys } from './auth';
import { AuthRejectedError, type Principal } from './authenticator';

const AUDIENCE = 'agentyard:stream';
/** What a stream ticket grants, shared by every stream opened with one (a Set per stream would live as long as it). */
const TICKET_SCOPES: Principal['scopes'] = new Set(['runs:read']);
export const USE_A_TICKET = 'Only a stream ticket is accepted in the URL: get one from POST /agent/runs/:id/stream-token (API keys and JWTs go in the Authorization header)';

export interface StreamTickets {
  issue(principal: Principal, runId: string): Promise<{ token: string; expires_at: string }>;
  /** The principal a ticket stands for, if it is valid for this run; an AuthRejectedError otherwise. */
  verify(token: string, runId: string): Promise<Principal>;
}

/**
 * Stream tickets are HS256 JWTs bound to one run, signed with a random key kept in Redis. The
 * first replica to need it creates it with SET NX, so every replica signs and accepts with the
 * same key and nobody has to configure one; a key read is cached for the process's life.
 * Deleting the key (and restarting the API) revokes every ticket at once.
 */
export function createStreamTickets(opts: { redis: Redis; prefix: string; ttlS: number; now?: () => number }): StreamTickets {
  const now = opts.now ?? Date.now;
  const name = `${opts.prefix}stream-ticket-key`;
  let key: Promise<Uint8Array> | undefined;
  const signingKey = () =>
    (key ??= (async () => {
      await opts.redis.set(name, randomBytes(32).toString('hex'), 'NX');
      const hex = await opts.redis.get(name);
      if (!hex) throw new Error('stream ticket key vanished from Redis');
      return Buffer.from(hex, 'hex');
    })().catch((err) => {
      key = undefined; // Redis down: try again on the next request
      throw err;
    }));
  return {
    async issue(principal, runId) {
      const exp = Math.floor(now() / 1000) + opts.ttlS;
      const token = await new SignJWT({ tenant: principal.tenant, run: runId })
        .setProtectedHeader({ alg: 'HS256', typ: 'stream+jwt' })
        .setSubject(principal.subject)
        .setAudience(AUDIENCE)
        .setExpirationTime(exp)
        .sign(await signingKey());
      return { token, expires_at: new Date(exp * 1000).toISOString() };
    },
    async verify(token, runId) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, await signingKey(), { algorithms: ['HS256'], audience: AUDIENCE, requiredClaims: ['exp', 'run', 'tenant'], currentDate: new Date(now()) }));
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw new AuthRejectedError('token_expired', 'The stream ticket has expired; get a new one from POST /agent/runs/:id/stream-token');
        if (err instanceof joseErrors.JOSEError) throw new AuthRejectedError(err instanceof joseErrors.JWSSignatureVerificationFailed ? 'bad_signature' : 'malformed', USE_A_TICKET);
        throw err;
      }
      if (payload.run !== runId) throw new AuthRejectedError('claim_mismatch', 'This stream ticket is for another run');
      return { tenant: String(payload.tenant), subject: String(payload.sub ?? ''), scopes: TICKET_SCOPES };
    },
  };
}

/**
 * Auth of the SSE route: the Authorization header as everywhere, or one `?access_token=`
 * holding a stream ticket for this run. Any other spelling of a credential key
 * (`access%5Ftoken`, `%61ccess_token`, `access_token[]`, `token`), or a second one, is refused
 * before Express's decoded req.query is ever trusted.
 */
export function createStreamAuth(tickets: StreamTickets, headerAuth: RequestHandler, metrics: Pick<ApiMetrics, 'authRejections'>): RequestHandler {
  return async (req, res, next) => {
    const raw = req.originalUrl.slice(req.originalUrl.indexOf('?') + 1);
    const keys = rawQueryKeys(req.originalUrl);
    if (!keys.some((k) => CREDENTIAL_QUERY_KEYS.has(k))) return headerAuth(req, res, next);
    try {
      const literal = raw.split('&').filter((p) => CREDENTIAL_QUERY_KEYS.has(rawQueryKeys(`?${p}`)[0] ?? ''));
      const value = literal.length === 1 && literal[0]!.startsWith('access_token=') ? decodeURIComponent(literal[0]!.slice('access_token='.length)) : undefined;
      if (value === undefined || !value) throw new AuthRejectedError('malformed', USE_A_TICKET);
      const runId = String(req.params.run_id);
      res.locals.auth = await tickets.verify(value, runId);
      next();
    } catch (err) {
      if (err instanceof AuthRejectedError) metrics.authRejections.inc({ reason: err.reason });
      next(err instanceof URIError ? new AuthRejectedError('malformed', USE_A_TICKET) : err);
    }
  };
}
