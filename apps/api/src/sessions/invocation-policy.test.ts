import { invocationDenial, limitDenial } from './invocation-policy';

const read = { tool: { requires_approval: false, side_effects: 'none' as const }, entry: { name: 'fs.read', scope: 'workspace', risk_level: 'low' as const } };
const write = { tool: { requires_approval: false, side_effects: 'reversible' as const }, entry: { name: 'fs.write', scope: 'workspace', risk_level: 'medium' as const } };
const shell = { tool: { requires_approval: false, side_effects: 'irreversible' as const }, entry: { name: 'shell.exec', scope: 'sandbox', risk_level: 'high' as const } };
const open = { approval: 'writes' as const };

describe('the sessions invocation policy', () => {
  const cases: Array<[string, Parameters<typeof invocationDenial>[0], string | undefined]> = [
    ['a read in an open session', { ...read, session: open, args: { path: 'a.txt' }, approved: false, operator: false }, undefined],
    ['a high-risk tool for a tenant token', { ...shell, session: { approval: 'never' }, args: { command: 'true' }, approved: true, operator: false }, '403 policy_denied high_risk_tool tool'],
    ['a high-risk tool for an operator', { ...shell, session: { approval: 'never' }, args: { command: 'true' }, approved: false, operator: true }, undefined],
    ['a high-risk tool for an operator, approval writes', { ...shell, session: open, args: { command: 'true' }, approved: false, operator: true }, '428 approval_required approval_required -'],
    ['a sandbox tool in a session with allowed_paths', { ...shell, session: { ...open, allowed_paths: ['pub'] }, args: {}, approved: true, operator: true }, '403 policy_denied scope_not_allowed tool'],
    ['a path outside allowed_paths', { ...read, session: { ...open, allowed_paths: ['pub'] }, args: { path: 'pubx/a.txt' }, approved: false, operator: false }, '403 policy_denied path_not_allowed args.path'],
    ['a path inside allowed_paths', { ...read, session: { ...open, allowed_paths: ['pub'] }, args: { path: 'pub/a/b.txt' }, approved: false, operator: false }, undefined],
    ['a prefix outside allowed_paths', { ...read, session: { ...open, allowed_paths: ['pub', 'docs'] }, args: { prefix: 'etc' }, approved: false, operator: false }, '403 policy_denied path_not_allowed args.prefix'],
    ['the root allowed ("")', { ...read, session: { ...open, allowed_paths: [''] }, args: { path: 'x/y' }, approved: false, operator: false }, undefined],
    ['a write without approval (writes)', { ...write, session: open, args: { path: 'a' }, approved: false, operator: false }, '428 approval_required approval_required -'],
    ['a write approved', { ...write, session: open, args: { path: 'a' }, approved: true, operator: false }, undefined],
    ['a write with approval never', { ...write, session: { approval: 'never' }, args: { path: 'a' }, approved: false, operator: false }, undefined],
    ['a read with approval all', { ...read, session: { approval: 'all' }, args: { path: 'a' }, approved: false, operator: false }, '428 approval_required approval_required -'],
    ['a tool that always requires approval, approval never', { ...read, tool: { requires_approval: true, side_effects: 'none' }, session: { approval: 'never' }, args: {}, approved: false, operator: false }, '428 approval_required approval_required -'],
    // The path is checked before approval: an unapproved write outside allowed_paths is a 403.
    ['an unapproved write outside allowed_paths', { ...write, session: { ...open, allowed_paths: ['pub'] }, args: { path: 'x' }, approved: false, operator: false }, '403 policy_denied path_not_allowed args.path'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    const d = invocationDenial(input);
    expect(d && `${d.status} ${d.code} ${d.reason} ${d.details[0]?.path ?? '-'}`).toBe(expected);
    if (d) expect(d.toData().retryable).toBe(false);
  });

  it('says which limit refused, retryable, with its Retry-After and setting', () => {
    const rate = limitDenial('rate', 42, { rate: 120, concurrency: 4 });
    expect(rate).toMatchObject({ status: 429, code: 'rate_limited', reason: 'rate_limited', retryable: true, retryAfterS: 42, details: [{ path: 'SESSION_RATE_LIMIT_PER_MINUTE' }] });
    expect(rate.message).toContain('120');
    const conc = limitDenial('concurrency', 1, { rate: 120, concurrency: 4 });
    expect(conc).toMatchObject({ status: 429, reason: 'concurrency_limited', retryable: true, details: [{ path: 'SESSION_MAX_CONCURRENCY' }] });
  });
});
