import { testRedis, type TestRedis } from '../../../tests/helpers/redis';
import { waitFor } from '../../../tests/helpers/wait-for';
import { createStreamLeases, createTenantSlots } from './tenant-slots';

describe('tenant leases on real Redis (concurrency slots, SSE streams)', () => {
  let t: TestRedis;
  beforeAll(() => {
    t = testRedis('leases');
  });
  afterAll(() => t.cleanup());

  it('keeps a renewed lease past four lease lengths (the set does not expire under its holders), and frees an unrenewed one', async () => {
    const slots = createTenantSlots({ redis: t.redis, prefix: t.prefix, leaseMs: 200 });
    expect(await slots.acquire('acme', 'run-a', 1)).toBe(true);
    expect(await slots.acquire('acme', 'run-b', 1)).toBe(false);
    // The holder renews as a worker does; 1 s is five leases, past the set's own 4-lease TTL.
    const until = Date.now() + 1000;
    await waitFor(
      async () => {
        await slots.renew('acme', 'run-a');
        return Date.now() >= until;
      },
      { label: '1 s of renewals', intervalMs: 50 },
    );
    expect(await slots.held('acme')).toBe(1);
    expect(await slots.acquire('acme', 'run-b', 1)).toBe(false);
    // Stop renewing: the lease runs out and the place is free again.
    await waitFor(async () => (await slots.held('acme')) === 0, { label: 'the unrenewed lease to expire', timeoutMs: 2000 });
    expect(await slots.acquire('acme', 'run-b', 1)).toBe(true);
    await slots.release('acme', 'run-b');
    expect(await slots.held('acme')).toBe(0);
  });

  it('counts streams apart from slots and per tenant, and does not re-take a lost lease on renew', async () => {
    const slots = createTenantSlots({ redis: t.redis, prefix: t.prefix });
    const streams = createStreamLeases({ redis: t.redis, prefix: t.prefix });
    expect(await slots.acquire('globex', 'run-1', 1)).toBe(true);
    expect(await streams.acquire('globex', 'api:1', 1)).toBe(true);
    expect(await streams.acquire('initech', 'api:2', 1)).toBe(true);
    expect(await streams.acquire('globex', 'api:3', 1)).toBe(false);
    await streams.release('globex', 'api:1');
    await streams.renew('globex', 'api:1'); // XX: a released lease stays released
    expect(await streams.held('globex')).toBe(0);
    expect(await slots.held('globex')).toBe(1);
  });
});
