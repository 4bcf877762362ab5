import { loadConfig } from './config';
import { DEFAULT_TENANT_POLICY, tenantPolicies } from './tenants';

describe('tenant policies: fair shares by default, overridable per tenant', () => {
  it('gives every tenant finite caps without a tenants file', () => {
    const p = tenantPolicies({}).get('anyone');
    expect(p).toEqual(DEFAULT_TENANT_POLICY);
    for (const k of ['max_concurrent_runs', 'max_sse_streams', 'max_workspace_files', 'max_workspace_bytes'] as const) {
      expect(Number.isFinite(p[k])).toBe(true);
    }
    expect(p.max_fleet_share).toBe(0.5);
    expect(p.max_queued_runs).toBe(Number.POSITIVE_INFINITY);
  });

  it('layers the file defaults and a tenant entry over the built-in defaults', () => {
    const policies = tenantPolicies({ defaults: { max_sse_streams: 10, max_fleet_share: 1 }, tenants: { acme: { max_sse_streams: 2, max_workspace_bytes: 1024 } } });
    expect(policies.get('acme')).toMatchObject({ max_sse_streams: 2, max_fleet_share: 1, max_workspace_bytes: 1024, max_concurrent_runs: 20 });
    expect(policies.get('globex')).toMatchObject({ max_sse_streams: 10, max_fleet_share: 1, max_workspace_bytes: DEFAULT_TENANT_POLICY.max_workspace_bytes });
  });

  it.each([
    [{ defaults: { max_fleet_share: 0 } }, /defaults\.max_fleet_share/],
    [{ defaults: { max_fleet_share: 1.5 } }, /defaults\.max_fleet_share/],
    [{ tenants: { acme: { max_sse_streams: 0 } } }, /tenants\.acme\.max_sse_streams/],
    [{ tenants: { acme: { max_workspace_files: 2.5 } } }, /tenants\.acme\.max_workspace_files/],
    [{ tenants: { acme: { max_open_streams: 3 } } }, /tenants\.acme/],
  ])('refuses %j naming the field', (raw, message) => {
    expect(() => tenantPolicies(raw)).toThrow(message);
  });
});

describe('METRICS_TOKEN', () => {
  it('is a secret (scrubbed from logs) and must be at least 16 characters', () => {
    expect(loadConfig({ METRICS_TOKEN: 'metrics-token-0123456789' }).secrets).toContain('metrics-token-0123456789');
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(loadConfig({ API_METRICS_PORT: '9465' }).API_METRICS_PORT).toBe(9465);
  });
});
