import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createAuthenticator } from '../../apps/api/src/http/authenticator';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const ISS = 'https://idp.test';
const AUD = 'agentyard';
const HASHED_KEY = 'tok_hashed_key_42';

/** A loopback identity provider: serves whatever JWKS the test sets. */
async function startJwks(): Promise<{ url: string; set(keys: JWK[]): void; hits(): number; close(): Promise<void> }> {
  let keys: JWK[] = [];
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys }));
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    set: (k) => (keys = k),
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const keyPair = async (kid: string) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
};
type Key = Awaited<ReturnType<typeof keyPair>>;

const sign = (key: Key, claims: Record<string, unknown> = {}, o: { exp?: string | number; nbf?: string | number; iss?: string; aud?: string; kid?: string } = {}) =>
  new SignJWT({ tenant: 'acme', scope: 'runs:read runs:write', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? key.kid })
    .setSubject('user-1')
    .setIssuer(o.iss ?? ISS)
    .setAudience(o.aud ?? AUD)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .setNotBefore(o.nbf ?? '0s')
    .sign(key.privateKey);

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('JWT and hashed API key authentication', () => {
  let stack: Stack;
  let idp: Awaited<ReturnType<typeof startJwks>>;
  let k1: Key;
  let k2: Key;
  let stranger: Key;
  beforeAll(async () => {
    idp = await startJwks();
    [k1, k2, stranger] = await Promise.all([keyPair('k1'), keyPair('k2'), keyPair('k1')]);
    idp.set([k1.jwk]);
    const digest = createHash('sha256').update(HASHED_KEY).digest('hex');
    stack = await startStack({
      label: 'auth-jwt',
      env: {
        API_KEYS: `acme:tok_acme_test_1,globex:sha256:${digest}`,
        JWT_JWKS_URL: idp.url,
        JWT_ISSUER: ISS,
        JWT_AUDIENCE: AUD,
        JWT_CLOCK_SKEW_S: '5',
      },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await idp.close();
  });

  const get = (token: string, path = '/agent/runs') => stack.api('GET', path, undefined, { token });

  it('accepts a valid token and scopes what it sees to the tenant claim', async () => {
    const created = await stack.execute({ action: 'create', steps: [{ tool: 'fs.write', args: { path: 'a.txt', content: 'x' } }] }, await sign(k1));
    expect(created.status).toBe(201);
    const mine = await get(await sign(k1));
    expect(mine.status).toBe(200);
    expect(mine.body.runs.map((r: { id: string }) => r.id)).toContain(created.body.run_id);
    const other = await get(await sign(k1, { tenant: 'globex' }));
    expect(other.body.runs).toEqual([]);
  });

  it.each([
    ['an expired token', () => sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 60 }), 'token_expired'],
    ['a not-yet-valid token', () => sign(k1, {}, { nbf: Math.floor(Date.now() / 1000) + 120 }), 'claim_mismatch'],
    ['a wrong audience', () => sign(k1, {}, { aud: 'someone-else' }), 'claim_mismatch'],
    ['a wrong issuer', () => sign(k1, {}, { iss: 'https://evil.test' }), 'claim_mismatch'],
    ['an unknown kid', () => sign(k1, {}, { kid: 'nope' }), 'unknown_kid'],
    ['a token signed with the wrong key', () => sign(stranger), 'bad_signature'],
    ['alg: none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ tenant: 'acme', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 300, scope: 'runs:read' })}.`, 'bad_signature'],
    ['a token without a tenant claim', () => sign(k1, { tenant: undefined }), 'claim_mismatch'],
    ['a JWT whose parts are not base64url', async () => `${b64({ alg: 'ES256', kid: 'k1' })}.e30.not*base64*url`, 'malformed'],
  ])('refuses %s with 401 and its reason, echoing no token material', async (_what, make, reason) => {
    const token = await make();
    const res = await get(token);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'unauthorized', reason });
    const signature = token.split('.')[2];
    if (signature) expect(JSON.stringify(res.body)).not.toContain(signature);
    expect(JSON.stringify(res.body)).not.toContain(token.split('.')[1] ?? token);
  });

  it('picks up a key the provider adds (rotation): the new kid works once the JWKS has it', async () => {
    const before = await get(await sign(k2));
    expect(before.status).toBe(401);
    expect(before.body.error.reason).toBe('unknown_kid');
    idp.set([k1.jwk, k2.jwk]);
    const hits = idp.hits();
    const rotated = await sign(k2);
    // The API refetches an unknown kid at most every 5 s (so made-up kids cannot hammer the provider).
    await waitFor(async () => (await get(rotated)).status === 200, { timeoutMs: 15_000, label: 'token of the new kid accepted after the JWKS changed' });
    expect(idp.hits()).toBeGreaterThan(hits);
    expect((await get(await sign(k1))).status).toBe(200);
  });

  it('answers 403 insufficient_scope when a scope is missing', async () => {
    const readOnly = await sign(k1, { scope: 'runs:read' });
    expect((await get(readOnly)).status).toBe(200);
    const write = await stack.execute({ action: 'create', steps: [{ tool: 'fs.write', args: { path: 'a.txt', content: 'x' } }] }, readOnly);
    expect(write.status).toBe(403);
    expect(write.body.error).toMatchObject({ code: 'forbidden', reason: 'insufficient_scope' });
    const admin = await stack.api('GET', '/admin/dlq', undefined, { token: await sign(k1, { scope: 'runs:read runs:write' }) });
    expect(admin.status).toBe(403);
    expect((await stack.api('GET', '/admin/dlq', undefined, { token: await sign(k1, { scope: 'admin' }) })).status).toBe(200);
  });

  it('accepts an API key given as its sha256 digest, and refuses a wrong one', async () => {
    expect((await get(HASHED_KEY)).status).toBe(200);
    const wrong = await get('tok_hashed_key_43');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.reason).toBe('bad_signature');
    const none = await stack.api('GET', '/agent/runs', undefined, { token: '' });
    expect(none.body.error.reason).toBe('missing_token');
    const basic = await stack.api('GET', '/agent/runs', undefined, { token: '', headers: { Authorization: 'Basic YWNtZTp4' } });
    expect(basic.status).toBe(401);
    expect(basic.body.error.reason).toBe('malformed');
  });

  it('counts rejections by reason in agentyard_auth_rejections_total', async () => {
    const count = async (reason: string) => {
      const text = (await stack.api('GET', '/metrics')).body as string;
      const m = new RegExp(`agentyard_auth_rejections_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
      return m ? Number(m[1]) : 0;
    };
    const expired = await count('token_expired');
    const missing = await count('missing_token');
    await get(await sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 60 }));
    await get(await sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(await count('token_expired')).toBe(expired + 2);
    expect(await count('missing_token')).toBe(missing);
  });
});

describe('HS256 JWTs (JWT_SECRET)', () => {
  const secret = 'an-hs256-secret-of-at-least-32-chars!!';
  const auth = createAuthenticator({ apiKeys: [], jwt: { secret, issuer: ISS, audience: AUD, tenantClaim: 'org', scopesClaim: 'perms', clockSkewS: 0 } });
  const hs = (key: string, alg = 'HS256') =>
    new SignJWT({ org: 'acme', perms: ['runs:read', 'bogus'] }).setProtectedHeader({ alg }).setSubject('svc').setIssuer(ISS).setAudience(AUD).setExpirationTime('1m').sign(new TextEncoder().encode(key));

  it('yields the principal from the configured tenant and scope claims, dropping unknown scopes', async () => {
    const p = await auth.authenticate(await hs(secret));
    expect(p).toMatchObject({ tenant: 'acme', subject: 'svc' });
    expect([...p.scopes]).toEqual(['runs:read']);
  });

  it('refuses another secret (bad_signature) and an algorithm outside the pinned list', async () => {
    await expect(auth.authenticate(await hs('another-secret-of-at-least-32-chars!!!'))).rejects.toMatchObject({ reason: 'bad_signature' });
    await expect(auth.authenticate(await hs(secret + secret, 'HS512'))).rejects.toMatchObject({ reason: 'bad_signature' });
  });
});
