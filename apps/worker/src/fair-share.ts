import type { TenantPolicies, TenantPolicy } from '@agentyard/config';
import type { WorkerRegistry } from '@agentyard/queue';

/** The cap that bounds a tenant's running runs now, and which setting it comes from. */
export interface SlotLimit {
  limit: number;
  by: 'max_concurrent_runs' | 'max_fleet_share';
}

/**
 * How many runs of a tenant may execute at once on a fleet of `fleetSlots` slots: its
 * max_concurrent_runs, or its max_fleet_share of the fleet (at least one slot), whichever is
 * lower. Infinity when neither caps it.
 */
export function slotLimit(policy: Pick<TenantPolicy, 'max_concurrent_runs' | 'max_fleet_share'>, fleetSlots: number): SlotLimit {
  const share = policy.max_fleet_share >= 1 ? Number.POSITIVE_INFINITY : Math.max(1, Math.ceil(policy.max_fleet_share * fleetSlots));
  return share < policy.max_concurrent_runs ? { limit: share, by: 'max_fleet_share' } : { limit: policy.max_concurrent_runs, by: 'max_concurrent_runs' };
}

/**
 * The slot limits of the worker's processor. The fleet's size (sum of the live workers'
 * concurrency, from their heartbeats) is read at most every `cacheMs`: it changes when
 * workers come and go, not per run, and a pickup should not cost an MGET of every worker.
 */
export function createSlotLimits(opts: {
  policies: TenantPolicies;
  registry: Pick<WorkerRegistry, 'list'>;
  /** This worker's own concurrency: the fleet's size until its first heartbeat is listed. */
  ownConcurrency: number;
  /** @default 2000 */
  cacheMs?: number;
  now?: () => number;
}) {
  const now = opts.now ?? Date.now;
  let cached: { at: number; slots: number } | undefined;
  const fleetSlots = async (): Promise<number> => {
    if (cached && now() - cached.at < (opts.cacheMs ?? 2000)) return cached.slots;
    const live = await opts.registry.list().catch(() => undefined);
    const slots = Math.max(opts.ownConcurrency, (live ?? []).reduce((n, w) => n + w.concurrency, 0));
    cached = { at: now(), slots };
    return slots;
  };
  return {
    async limit(tenant: string): Promise<SlotLimit> {
      const policy = opts.policies.get(tenant);
      // Without a share cap the fleet's size does not matter: skip the registry read.
      if (policy.max_fleet_share >= 1) return slotLimit(policy, 0);
      return slotLimit(policy, await fleetSlots());
    },
  };
}

/** The longest a held-back run waits before its job checks for a slot again. */
export const MAX_HELD_BACK_DELAY_MS = 30_000;

/**
 * How long a run held back by its tenant's cap waits before its job comes back. Each
 * comeback costs a worker a fetch and a script call, so with many runs waiting the delays
 * spread out, up to `waiting / limit` times the base (at most 30 s), drawn at random: the
 * tenant's many jobs then come due spread over that window, one every window / waiting on
 * average, so a freed slot is still taken within about a second while the fleet fetches
 * about `limit / base` held-back jobs a second instead of `waiting / base`.
 * `random` is in [0, 1).
 */
export function heldBackDelayMs(baseMs: number, waiting: number, limit: number, random: number): number {
  const spread = Math.min(MAX_HELD_BACK_DELAY_MS, baseMs * Math.max(1, waiting / Math.max(1, limit)));
  return Math.round(baseMs + random * (spread - baseMs));
}
