import { createHash, timingSafeEqual } from 'node:crypto';
// jose 6 is ESM-only; Node 24 loads it with require(esm), which tsc's Node16 mode does not model yet.
// @ts-ignore TS1479
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AgentyardError } from '@agentyard/core';
import type { ApiKey } from '@agentyard/config';

export const SCOPES = ['runs:read', 'runs:write', 'sessions:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who made a request: every route reads this, never a credential. */
export interface Principal {
  tenant: string;
  /** `apikey:<tenant>:<first 8 hex of the key's digest>` or the JWT's `sub`. */
  subject: string;
  scopes: ReadonlySet<Scope>;
}

/** The bounded reasons of a refusal: the 401/403 body's `error.reason` and the metric's label. */
export const REJECTION_REASONS = ['missing_token', 'malformed', 'bad_signature', 'token_expired', 'unknown_kid', 'claim_mismatch', 'insufficient_scope'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** A refused credential. The message never contains any part of the token. */
export class AuthRejectedError extends AgentyardError {
  constructor(readonly reason: RejectionReason, message: string) {
    super(reason === 'insufficient_scope' ? 'forbidden' : 'unauthorized', message, { status: reason === 'insufficient_scope' ? 403 : 401 });
  }
}

export interface JwtSettings {
  secret?: string;
  jwksUrl?: string;
  issuer: string;
  audience: string;
  tenantClaim: string;
  scopesClaim: string;
  clockSkewS: number;
}

export interface Authenticator {
  authenticate(token: string): Promise<Principal>;
}

const API_KEY_SCOPES: Scope[] = ['runs:read', 'runs:write', 'sessions:write'];
const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * API keys and JWTs behind one door. A token shaped like a JWS (three base64url parts whose
 * header parses) goes to the JWT verifier when JWTs are on; anything else is looked up among
 * the API keys, compared in constant time on SHA-256 digests so neither value nor length leaks.
 */
export function createAuthenticator(opts: { apiKeys: readonly ApiKey[]; jwt?: JwtSettings; fetchJwks?: JWTVerifyGetKey }): Authenticator {
  // One principal per key, built once: every request (and every open SSE stream, for its
  // whole life, in res.locals) shares it instead of holding a subject string and a Set of its own.
  const table = opts.apiKeys.map((k) => ({
    digest: Buffer.from(k.sha256, 'hex'),
    principal: Object.freeze<Principal>({
      tenant: k.tenant,
      subject: `apikey:${k.tenant}:${k.sha256.slice(0, 8)}`,
      scopes: new Set<Scope>(k.admin ? [...API_KEY_SCOPES, 'admin'] : API_KEY_SCOPES),
    }),
  }));
  const jwt = opts.jwt ? createJwtVerifier(opts.jwt) : undefined;
  const byKey = (token: string): Principal => {
    const d = sha256(token);
    let found: Principal | undefined;
    for (const row of table) if (timingSafeEqual(row.digest, d)) found = row.principal;
    if (!found) throw new AuthRejectedError('bad_signature', 'The bearer token is not valid');
    return found;
  };
  return {
    async authenticate(token) {
      if (jwt && looksLikeJwt(token)) return jwt(token);
      return byKey(token);
    },
  };
}

function looksLikeJwt(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}

/** Only these algorithms are accepted; `none` never is (jose refuses unsecured JWTs in jwtVerify). */
const HS_ALGS = ['HS256'];
const JWKS_COOLDOWN_MS = 5000;
const ASYM_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

function createJwtVerifier(s: JwtSettings): (token: string) => Promise<Principal> {
  // createRemoteJWKSet caches the set (10 min) and refetches it when a token names a kid it
  // does not hold, which is how a key rotation at the provider is picked up; at most once per
  // JWKS_COOLDOWN_MS, so tokens with made-up kids cannot make us hammer the provider.
  const key = s.secret !== undefined ? new TextEncoder().encode(s.secret) : createRemoteJWKSet(new URL(s.jwksUrl!), { cooldownDuration: JWKS_COOLDOWN_MS });
  const algorithms = s.secret !== undefined ? HS_ALGS : ASYM_ALGS;
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
        algorithms,
        issuer: s.issuer,
        audience: s.audience,
        clockTolerance: s.clockSkewS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw rejectionOf(err);
    }
    const tenant = payload[s.tenantClaim];
    if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
      throw new AuthRejectedError('claim_mismatch', `The token's ${s.tenantClaim} claim must name a tenant`);
    }
    return { tenant, subject: typeof payload.sub === 'string' ? payload.sub : `jwt:${tenant}`, scopes: scopesOf(payload[s.scopesClaim]) };
  };
}

function scopesOf(raw: unknown): Set<Scope> {
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : [];
  return new Set(list.filter((x): x is Scope => (SCOPES as readonly unknown[]).includes(x)));
}

/** jose's error classes to our bounded reasons; the messages are ours, never jose's (which may quote claims). */
function rejectionOf(err: unknown): AuthRejectedError {
  if (err instanceof joseErrors.JWTExpired) return new AuthRejectedError('token_expired', 'The token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim === 'nbf' ? 'nbf (not yet valid)' : err.claim;
    return new AuthRejectedError('claim_mismatch', `The token's ${claim} claim is not accepted`);
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new AuthRejectedError('unknown_kid', 'The token is signed with a key the identity provider does not publish');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthRejectedError('bad_signature', 'The token signature does not verify');
  // alg: none, or an algorithm outside the pinned list: an unsigned or wrongly signed token.
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return new AuthRejectedError('bad_signature', 'The token is not signed with an accepted algorithm');
  }
  if (err instanceof joseErrors.JWKSTimeout || (err instanceof joseErrors.JOSEError && err.code === 'ERR_JWKS_INVALID')) {
    throw new AgentyardError('unavailable', 'the identity provider keys could not be fetched', { status: 503, retryable: true, cause: err });
  }
  if (err instanceof joseErrors.JOSEError) return new AuthRejectedError('malformed', 'The token is not a well-formed JWT');
  if (err instanceof TypeError || err instanceof Error) {
    // fetch of the JWKS failed (network): a dependency, not the client's fault.
    if (/fetch|ECONNREFUSED/i.test(err.message)) throw new AgentyardError('unavailable', 'the identity provider keys could not be fetched', { status: 503, retryable: true });
  }
  return new AuthRejectedError('malformed', 'The token is not a well-formed JWT');
}
