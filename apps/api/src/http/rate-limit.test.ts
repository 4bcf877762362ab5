import type { AddressInfo } from 'node:net';
import express from 'express';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Options } from 'express-rate-limit';
import { testRedis, type TestRedis } from '../../../../tests/helpers/redis';
import { createRequestLimits, limitedAuth } from './rate-limit';

describe('request limits on real Redis', () => {
  let t: TestRedis;
  beforeAll(() => {
    t = testRedis('reqlimits');
  });
  afterAll(() => t.cleanup());

  /** An app whose only route answers 200 for `Bearer good` (tenant acme), 401 otherwise. */
  async function serve(perTenant: number, perAddress: number) {
    const limits = createRequestLimits({ redis: t.redis, prefix: t.prefix, perTenantPerMinute: perTenant, authFailuresPerMinute: perAddress });
    const app = express();
    if (limits.authFailureLimit) app.use(limits.authFailureLimit.middleware);
    app.use(
      limitedAuth((req, res, next) => {
        const err = req.get('authorization') === 'Bearer good' ? undefined : Object.assign(new Error('no'), { status: 401 });
        if (!err) res.locals.auth = { tenant: 'acme', subject: 's', scopes: new Set() };
        next(err);
      }, limits),
    );
    app.get('/', (_req, res) => void res.json({ ok: true }));
    app.use((err: { status?: number; retryAfterS?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      if (err.retryAfterS !== undefined) res.set('Retry-After', String(err.retryAfterS));
      res.status(err.status ?? 500).end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return {
      hit: (token: string) => fetch(base, { headers: { authorization: `Bearer ${token}` } }),
      close: () => (server.closeAllConnections(), server.close()),
    };
  }

  it("counts a tenant in rate-limit-redis's own key and window, with draft-7 headers, and refuses past the limit", async () => {
    const app = await serve(3, 0);
    try {
      // A replica still on express-rate-limit + rate-limit-redis counts into the same key.
      const store = new RedisStore({ prefix: `${t.prefix}ratelimit:`, sendCommand: (c: string, ...a: string[]) => t.redis.call(c, ...a) as Promise<RedisReply> });
      store.init({ windowMs: 60_000 } as Options);
      expect((await store.increment('acme')).totalHits).toBe(1);
      const ok = await app.hit('good');
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-policy')).toBe('3;w=60');
      expect(ok.headers.get('ratelimit')).toMatch(/^limit=3, remaining=1, reset=(59|60)$/);
      expect((await app.hit('good')).status).toBe(200);
      const refused = await app.hit('good');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
      expect(await t.redis.get(`${t.prefix}ratelimit:acme`)).toBe('4');
      expect(await t.redis.pttl(`${t.prefix}ratelimit:acme`)).toBeGreaterThan(50_000);
    } finally {
      app.close();
    }
  });

  it('counts only 401s per address, and then refuses the right token too, in the same script as the tenant count', async () => {
    await t.redis.del(`${t.prefix}ratelimit:acme`);
    const app = await serve(100, 2);
    try {
      expect((await app.hit('good')).status).toBe(200);
      expect((await app.hit('bad')).status).toBe(401);
      expect((await app.hit('bad')).status).toBe(401);
      await new Promise((r) => setTimeout(r, 50)); // the 401s are counted as they end
      expect((await app.hit('bad')).status).toBe(429);
      const right = await app.hit('good');
      expect(right.status).toBe(429);
      expect(right.headers.get('ratelimit-policy')).toBe('100;w=60');
      const [key] = await t.redis.keys(`${t.prefix}authfail:*`);
      expect(await t.redis.get(key!)).toBe('2');
    } finally {
      app.close();
    }
  });

  it('refuses the right token of a blocked address with the tenant limit off too, from its view of the count', async () => {
    // The tests before blocked this address and counted the tenant.
    for (const key of await t.redis.keys(`${t.prefix}*`)) await t.redis.del(key);
    const app = await serve(0, 2);
    try {
      expect((await app.hit('good')).status).toBe(200);
      expect((await app.hit('bad')).status).toBe(401);
      expect((await app.hit('bad')).status).toBe(401);
      await new Promise((r) => setTimeout(r, 50)); // the 401s are counted as they end
      const right = await app.hit('good');
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
      // No tenant limit: no tenant count, no RateLimit headers.
      expect(right.headers.get('ratelimit-policy')).toBeNull();
      expect(await t.redis.keys(`${t.prefix}ratelimit:*`)).toEqual([]);
    } finally {
      app.close();
    }
  });
});
