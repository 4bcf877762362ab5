import { randomBytes } from 'node:crypto';
import { CapReachedError } from '@agentyard/core';
import type { TenantLeases } from '@agentyard/runs';

/**
 * Per-tenant cap on open SSE streams (max_sse_streams), counted in Redis across API replicas.
 * Each open stream holds a lease this process renews every third of its length; a stream that
 * ends gives its lease back, and the leases of an API process that crashed expire by
 * themselves, so a crash never leaks counts into the tenant's cap.
 */
export interface StreamGate {
  /** Takes a lease for one stream of `tenant`, or throws 429 cap_reached; resolves to its release. */
  enter(tenant: string): Promise<() => Promise<void>>;
  /** Stops renewing (the process is shutting down; its streams end anyway). */
  close(): void;
}

/** A refused stream tries again after this: about when a dashboard's other tab closes. */
const RETRY_AFTER_S = 5;

export function createStreamGate(opts: { leases: TenantLeases; limit(tenant: string): number }): StreamGate {
  const instance = randomBytes(6).toString('hex');
  let n = 0;
  const open = new Map<string, string>(); // holder -> tenant
  let timer: NodeJS.Timeout | undefined;

  const renewAll = () => {
    const byTenant = new Map<string, string[]>();
    for (const [holder, tenant] of open) byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), holder]);
    // A failed renewal (Redis blip) is tried again next tick, well within the lease.
    for (const [tenant, holders] of byTenant) void opts.leases.renew(tenant, ...holders).catch(() => undefined);
  };

  return {
    async enter(tenant) {
      const limit = opts.limit(tenant);
      if (!Number.isFinite(limit)) return async () => undefined;
      const holder = `${instance}:${++n}`;
      if (!(await opts.leases.acquire(tenant, holder, limit))) {
        throw new CapReachedError(
          'max_sse_streams',
          `tenant ${tenant} has ${limit} SSE streams open, its max_sse_streams; close one (or use GET /agent/logs/:run_id) and try again`,
          RETRY_AFTER_S,
        );
      }
      open.set(holder, tenant);
      if (!timer) {
        timer = setInterval(renewAll, Math.max(100, Math.floor(opts.leases.leaseMs / 3)));
        timer.unref();
      }
      return async () => {
        if (!open.delete(holder)) return;
        if (open.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
        await opts.leases.release(tenant, holder).catch(() => undefined);
      };
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
