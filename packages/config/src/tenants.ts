import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config';

const Policy = z.strictObject({
  /** Tokens (prompt + completion) the tenant's model turns may use per UTC day. */
  daily_tokens: z.int().min(0).optional(),
  /** Runs of the tenant executing at once; more wait in the queue without a worker slot. */
  max_concurrent_runs: z.int().min(1).optional(),
  /** Queued runs the tenant may hold; a create with start or a start beyond it is 429 queue_full. */
  max_queued_runs: z.int().min(1).optional(),
  /** Open sessions (/v1/sessions) the tenant may hold; one more is 429 rate_limited. */
  max_open_sessions: z.int().min(1).optional(),
});

const TenantsFile = z.strictObject({
  defaults: Policy.optional(),
  tenants: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/), Policy).optional(),
});

export interface TenantPolicy {
  daily_tokens: number;
  max_concurrent_runs: number;
  /** Infinity: no limit. */
  max_queued_runs: number;
  max_open_sessions: number;
}

export interface TenantPolicies {
  get(tenant: string): TenantPolicy;
}

/** Without a tenants file every tenant gets these: unlimited (Infinity skips the check), open sessions aside. */
export const DEFAULT_TENANT_POLICY: TenantPolicy = {
  daily_tokens: 1_000_000_000,
  max_concurrent_runs: Number.POSITIVE_INFINITY,
  max_queued_runs: Number.POSITIVE_INFINITY,
  // Finite on purpose: sessions hold Redis keys until they expire, and a script opening them in a loop must stop somewhere.
  max_open_sessions: 100,
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
 *   defaults: { daily_tokens: 2000000, max_concurrent_runs: 10, max_queued_runs: 1000 }
 *   tenants:  { acme: { daily_tokens: 50000, max_concurrent_runs: 2 } }
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
