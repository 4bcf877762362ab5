import { tenantPolicies } from '@agentyard/config';
import { createSlotLimits, heldBackDelayMs, slotLimit } from './fair-share';

describe('slotLimit: a tenant gets the lower of max_concurrent_runs and its share of the fleet', () => {
  it.each([
    // [max_concurrent_runs, max_fleet_share, fleet slots, limit, by]
    [20, 0.5, 4, 2, 'max_fleet_share'],
    [20, 0.5, 5, 3, 'max_fleet_share'], // rounds up: half of 5 slots is 3
    [20, 0.5, 1, 1, 'max_fleet_share'], // at least one slot, even on a one-slot fleet
    [20, 0.5, 0, 1, 'max_fleet_share'],
    [20, 0.5, 400, 20, 'max_concurrent_runs'],
    [3, 1, 400, 3, 'max_concurrent_runs'], // a share of 1 is no share cap
    [Number.POSITIVE_INFINITY, 1, 8, Number.POSITIVE_INFINITY, 'max_concurrent_runs'],
  ] as const)('max %p, share %p, %p slots -> %p (%s)', (max, share, slots, limit, by) => {
    expect(slotLimit({ max_concurrent_runs: max, max_fleet_share: share }, slots)).toEqual({ limit, by });
  });

  it("sizes the fleet from the live workers' concurrency, read at most once per cache period", async () => {
    let t = 0;
    let reads = 0;
    const fleet = [{ concurrency: 4 }, { concurrency: 4 }];
    const limits = createSlotLimits({
      policies: tenantPolicies({ tenants: { solo: { max_fleet_share: 1, max_concurrent_runs: 5 } } }),
      registry: { list: async () => (reads++, fleet as never) },
      ownConcurrency: 4,
      cacheMs: 1000,
      now: () => t,
    });
    expect(await limits.limit('acme')).toEqual({ limit: 4, by: 'max_fleet_share' });
    fleet.push({ concurrency: 4 }, { concurrency: 4 });
    expect((await limits.limit('acme')).limit).toBe(4); // cached
    t = 1000;
    expect((await limits.limit('acme')).limit).toBe(8);
    expect(reads).toBe(2);
    // Without a share cap the registry is not read at all.
    expect(await limits.limit('solo')).toEqual({ limit: 5, by: 'max_concurrent_runs' });
    expect(reads).toBe(2);
  });

  it("counts at least this worker's own slots before its first heartbeat is listed", async () => {
    const limits = createSlotLimits({ policies: tenantPolicies({}), registry: { list: async () => [] }, ownConcurrency: 6 });
    expect(await limits.limit('acme')).toEqual({ limit: 3, by: 'max_fleet_share' });
  });
});

describe('heldBackDelayMs: held-back runs come back spread out, the more the longer', () => {
  it.each([
    // [waiting, limit, random, delay]
    [1, 2, 0.99, 1000], // fewer waiting than the cap: the base delay
    [4, 2, 0, 1000],
    [4, 2, 0.5, 1500], // 2x the cap waiting: within 1-2 s
    [1000, 2, 0.5, 15500], // many waiting: within 1-30 s
    [1000, 2, 1, 30000],
  ])('%p waiting, cap %p, random %p -> %p ms', (waiting, limit, random, delay) => {
    expect(heldBackDelayMs(1000, waiting, limit, random)).toBe(delay);
  });
});
