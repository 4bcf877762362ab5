import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config';

/** What a tenant id looks like (as in API_KEYS). */
export const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const Policy = z.strictObject({
  /** Tokens (prompt + completion) the tenant's model turns may use per UTC day. */
  daily_tokens: z.int().min(0).optional(),
  /** Runs of the tenant executing at once; more wait in the queue without a worker slot. */
  max_concurrent_runs: z.int().min(1).optional(),
  /**
   * Share (0-1] of the live workers' slots (sum of their WORKER_CONCURRENCY) the tenant's runs
   * may hold at once, at least one slot; more wait in the queue without a worker slot.
   */
  max_fleet_share: z.number().gt(0).max(1).optional(),
  /** Queued runs the tenant may hold; a create with start or a start beyond it is 429 queue_full. */
  max_queued_runs: z.int().min(1).optional(),
  /** Open sessions (/v1/sessions) the tenant may hold; one more is 429 rate_limited. */
  max_open_sessions: z.int().min(1).optional(),
  /** SSE streams the tenant may hold open at once, over every API replica; beyond it 429. */
  max_sse_streams: z.int().min(1).optional(),
  /** Files the tenant's tools may keep in its workspaces (run archives not counted); beyond it 429. */
  max_workspace_files: z.int().min(1).optional(),
  /** Bytes the tenant's tools may keep in its workspaces (run archives not counted); beyond it 413. */
  max_workspace_bytes: z.int().min(1).optional(),
  /**
   * Runs past RUN_RETENTION_S the tenant's listing keeps in Redis (newest first); older ones
   * leave the listing, and their archives stay in their workspaces.
   */
  max_listed_runs: z.int().min(1).optional(),
});

const TenantsFile = z.strictObject({
  defaults: Policy.optional(),
  tenants: z.record(z.string().regex(TENANT_ID), Policy).optional(),
});

/** Every field is a cap; Infinity means none. */
export interface TenantPolicy {
  daily_tokens: number;
  max_concurrent_runs: number;
  max_fleet_share: number;
  max_queued_runs: number;
  max_open_sessions: number;
  max_sse_streams: number;
  max_workspace_files: number;
  max_workspace_bytes: number;
  max_listed_runs: number;
}

export interface TenantPolicies {
  get(tenant: string): TenantPolicy;
}

/**
 * Fair shares by default: without a tenants file every tenant gets these. The figures and why
 * (docs/RUNBOOK.md "A tenant hits its caps" says how to raise them):
 * - max_concurrent_runs 20: an absolute ceiling on one tenant's sandboxes and model calls at
 *   once, five worker pods' worth at the default WORKER_CONCURRENCY 4.
 * - max_fleet_share 0.5: a tenant holds at most half the live workers' slots, so another
 *   tenant's run always finds a free slot within one run's time, whatever the fleet size. It
 *   is not lifted when nobody else waits: slots are not pre-empted, so a share applied only once
 *   others wait comes too late (hour-long `wait` steps already hold every slot). A deployment
 *   with one tenant sets it to 1.
 * - max_sse_streams 100: a dashboard watching every run of a busy team, while one client
 *   cannot hold hundreds of connections (each one a socket and a subscription in the API).
 * - max_workspace_files 100000 and max_workspace_bytes 10 GiB: far above what tools write in
 *   ordinary use, below what fills a disk (the fs driver) or a bill (S3).
 * - max_listed_runs 100000: what Redis keeps of runs it has forgotten (a listing entry, about
 *   0.4 KB each) is bounded, about 40 MB per tenant, instead of growing with every run ever.
 * max_queued_runs stays unlimited (QUEUE_MAX_WAITING bounds the whole queue) and daily_tokens
 * at a billion.
 */
export const DEFAULT_TENANT_POLICY: TenantPolicy = {
  daily_tokens: 1_000_000_000,
  max_concurrent_runs: 20,
  max_fleet_share: 0.5,
  max_queued_runs: Number.POSITIVE_INFINITY,
  // Finite on purpose: sessions hold Redis keys until they expire, and a script opening them in a loop must stop somewhere.
  max_open_sessions: 100,
  max_sse_streams: 100,
  max_workspace_files: 100_000,
  max_workspace_bytes: 10 * 1024 ** 3,
  max_listed_runs: 100_000,
};

export function tenantPolicies(raw: unknown = {}, source = 'TENANTS_FILE'): TenantPolicies {
  const r = TenantsFile.safeParse(raw ?? {});
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${source}: ${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const defaults = { ...DEFAULT_TENANT_POLICY, ...(r.data.defaults ?? {}) };
  const tenants = r.data.tenants ?? {};
  return { get: (tenant) => ({ ...defaults, ...(tenants[tenant] ?? {}) }) };
}

/**
 * Reads per-tenant budgets from a YAML or JSON file:
 *   defaults: { daily_tokens: 2000000, max_concurrent_runs: 10, max_queued_runs: 1000, max_sse_streams: 50 }
 *   tenants:  { acme: { daily_tokens: 50000, max_concurrent_runs: 2, max_workspace_bytes: 1073741824 } }
 * Absent tenants get `defaults`; absent fields get the built-in defaults.
 */
export function loadTenantsFile(path: string | undefined): TenantPolicies {
  if (!path) return tenantPolicies({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`TENANTS_FILE: cannot read ${path}: ${(e as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError([`TENANTS_FILE: ${path} is not valid YAML or JSON: ${(e as Error).message}`]);
  }
  return tenantPolicies(parsed, `TENANTS_FILE ${path}`);
}
