import type { RequestHandler } from 'express';
import type { ApiMetrics } from '@agentyard/observability';
import { AuthRejectedError, type Authenticator, type Principal, type Scope } from './authenticator';

export type { Principal } from './authenticator';

/** Query keys that carry credentials, once decoded (`access%5Ftoken`, `access_token[]` too). */
export const CREDENTIAL_QUERY_KEYS = new Set(['access_token', 'token']);

/** Decoded names of the raw query string's keys, `[...]` suffixes dropped; undecodable ones as `?`. */
export function rawQueryKeys(url: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  return url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const raw = part.split('=')[0]!;
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' ')).replace(/\[.*$/, '').trim().toLowerCase();
      } catch {
        return '?';
      }
    });
}

/**
 * The one auth middleware: reads `Authorization: Bearer`, asks the Authenticator for a
 * principal, checks the route's scope, and counts each refusal by reason. A credential in the
 * URL is refused on every route (a stream ticket route handles its own).
 */
export function createAuth(authenticator: Authenticator, rejections: ApiMetrics['authRejections']) {
  return (scope: Scope | ((method: string, path: string) => Scope)): RequestHandler =>
    async (req, res, next) => {
      try {
        if (rawQueryKeys(req.originalUrl).some((k) => CREDENTIAL_QUERY_KEYS.has(k))) {
          throw new AuthRejectedError('malformed', 'Credentials are not accepted in the URL; for SSE use a stream ticket from POST /agent/runs/:id/stream-token');
        }
        const header = req.get('authorization');
        if (!header) throw new AuthRejectedError('missing_token', 'A valid bearer token is required');
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        if (!m) throw new AuthRejectedError('malformed', 'Authorization must be "Bearer <token>"');
        const principal = await authenticator.authenticate(m[1]!);
        const need = typeof scope === 'function' ? scope(req.method, req.path) : scope;
        if (!principal.scopes.has(need)) throw new AuthRejectedError('insufficient_scope', `This route needs the ${need} scope`);
        res.locals.auth = principal;
        next();
      } catch (err) {
        if (err instanceof AuthRejectedError) rejections.inc({ reason: err.reason });
        next(err);
      }
    };
}

export function authOf(res: { locals: Record<string, unknown> }): Principal {
  return res.locals.auth as Principal;
}
