import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ForbiddenError, UnauthorizedError } from '@agentyard/core';
import type { ApiKey } from '@agentyard/config';

export interface AuthContext {
  tenant: string;
  admin: boolean;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token auth. Every configured token is compared in constant time (on digests, so
 * lengths do not leak either). `allowQueryToken` is for SSE only: browsers' EventSource
 * cannot set headers.
 */
export function createAuth(keys: readonly ApiKey[]) {
  const table = keys.map((k) => ({ ...k, digest: digest(k.token) }));
  const lookup = (token: string): ApiKey | undefined => {
    const d = digest(token);
    let found: ApiKey | undefined;
    for (const k of table) if (timingSafeEqual(k.digest, d)) found = k;
    return found;
  };
  return (opts: { admin?: boolean; allowQueryToken?: boolean } = {}): RequestHandler =>
    (req, res, next) => {
      const header = req.get('authorization');
      let token: string | undefined;
      if (header) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        if (!m) return next(new UnauthorizedError('Authorization must be "Bearer <token>"'));
        token = m[1];
      } else if (opts.allowQueryToken && typeof req.query.access_token === 'string') {
        token = req.query.access_token;
      }
      if (!token) return next(new UnauthorizedError());
      const key = lookup(token);
      if (!key) return next(new UnauthorizedError('The bearer token is not valid'));
      if (opts.admin && !key.admin) return next(new ForbiddenError('This route needs an operator (admin) token'));
      res.locals.auth = { tenant: key.tenant, admin: key.admin } satisfies AuthContext;
      next();
    };
}

export function authOf(res: { locals: Record<string, unknown> }): AuthContext {
  return res.locals.auth as AuthContext;
}
