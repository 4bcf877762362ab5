import { startStack, TOKENS, type Driver, type Stack } from '../helpers/stack';

const CAPS = { max_workspace_files: 3, max_workspace_bytes: 1000 };

/**
 * max_workspace_files and max_workspace_bytes, counted per tenant over all its workspaces on
 * both drivers: a run's write step and a session's invocation past a cap fail with the cap's
 * error (cap_reached naming max_workspace_files, payload_too_large naming max_workspace_bytes:
 * 429 and 413 where an API answers with them); overwrites count their change in size, deletes give room back, other
 * tenants are unaffected, and the run's own archive is written whatever the caps.
 */
describe.each<Driver>(['fs', 's3'])('workspace caps per tenant (%s driver)', (driver) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ driver, workers: 1, label: `ws-caps-${driver}`, tenants: { tenants: { acme: CAPS } } });
  });
  afterAll(() => stack.stop());

  const write = (path: string, size: number) => ({ tool: 'fs.write', args: { path, content: 'x'.repeat(size) } });
  const run = async (steps: unknown[], token: string = TOKENS.acme, workspace_id?: string) => {
    const { body } = await stack.execute({ action: 'create', start: true, steps, ...(workspace_id ? { workspace_id } : {}) }, token);
    return stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 15_000, token);
  };
  const usage = async (tenant: string) => {
    const [files, bytes] = await stack.redis.redis.hmget(`${stack.redis.prefix}tenant:${tenant}:ws-usage`, 'files', 'bytes');
    return { files: Number(files ?? 0), bytes: Number(bytes ?? 0) };
  };

  it('refuses the file beyond max_workspace_files with cap_reached, across workspaces, and a delete makes room', async () => {
    const ok = await run([write('a.txt', 10), write('b.txt', 10)], TOKENS.acme, 'ws-one');
    expect(ok.status).toBe('succeeded');
    // Overwriting a file is not a new file.
    expect((await run([write('a.txt', 20)], TOKENS.acme, 'ws-one')).status).toBe('succeeded');
    expect(await usage('acme')).toEqual({ files: 2, bytes: 30 });
    // The third file, in another workspace of the same tenant, still fits; the fourth does not.
    const full = await run([{ id: 'c', ...write('c.txt', 10) }, { id: 'd', ...write('d.txt', 10), needs: ['c'] }], TOKENS.acme, 'ws-two');
    expect(full.status).toBe('dead_lettered');
    const failed = full.steps.find((s: any) => s.status === 'failed');
    expect(failed.error).toMatchObject({ code: 'cap_reached', retryable: false });
    expect(failed.error.message).toContain('max_workspace_files');
    expect(await usage('acme')).toEqual({ files: 3, bytes: 40 });
    // The run's archive went to its workspace regardless: its record can be read.
    const files = await stack.api('GET', `/agent/runs/${full.id}/files?prefix=.agent/runs`);
    expect(files.status).toBe(200);
    expect(files.body.entries.length).toBeGreaterThan(0);

    // globex has its own (default) caps.
    expect((await run([write('a.txt', 10), write('b.txt', 10)], TOKENS.globex)).status).toBe('succeeded');

    expect((await run([{ tool: 'fs.delete', args: { path: 'b.txt' } }], TOKENS.acme, 'ws-one')).status).toBe('succeeded');
    expect(await usage('acme')).toEqual({ files: 2, bytes: 30 });
    expect((await run([write('d.txt', 10)], TOKENS.acme, 'ws-two')).status).toBe('succeeded');
  });

  it('refuses a write past max_workspace_bytes with payload_too_large, counting an overwrite by its change in size', async () => {
    // 3 files of 20 + 10 + 10 bytes so far; a.txt may grow to 980 (total 1000), not to 981.
    expect((await run([write('a.txt', 980)], TOKENS.acme, 'ws-one')).status).toBe('succeeded');
    expect(await usage('acme')).toEqual({ files: 3, bytes: 1000 });
    const over = await run([write('a.txt', 981)], TOKENS.acme, 'ws-one');
    expect(over.status).toBe('dead_lettered');
    expect(over.steps[0].error).toMatchObject({ code: 'payload_too_large', retryable: false });
    expect(over.steps[0].error.message).toContain('max_workspace_bytes');
    // The refused write changed nothing: the file and the count are as before.
    expect(await usage('acme')).toEqual({ files: 3, bytes: 1000 });
    expect((await stack.api('GET', `/agent/runs/${over.id}/files/a.txt`)).body).toHaveLength(980);
    // Shrinking is always allowed.
    expect((await run([write('a.txt', 5)], TOKENS.acme, 'ws-one')).status).toBe('succeeded');
    expect(await usage('acme')).toEqual({ files: 3, bytes: 25 });
  });

  it('answers a session invocation a cap refused with 429 or 413 naming the cap, the failed record beside', async () => {
    const session = (await stack.api('POST', '/v1/sessions', { approval: 'never' })).body.session;
    const invoke = (args: Record<string, unknown>) => stack.api('POST', `/v1/sessions/${session.id}/tools/fs.write/invoke`, { args });
    // acme keeps 3 files, its max_workspace_files: a fourth, in the session's workspace, is refused.
    const files = await invoke({ path: 'new.txt', content: 'x' });
    expect(files.status).toBe(429);
    expect(files.headers.get('retry-after')).toBe('60');
    expect(files.body.error).toMatchObject({ code: 'cap_reached', details: [{ path: 'max_workspace_files' }, { path: 'invocation_id' }] });
    expect(files.body.error.message).toContain('max_workspace_files');
    expect(files.body.invocation).toMatchObject({ status: 'failed', error: { code: 'cap_reached', retryable: false } });
    // Growing an existing file past max_workspace_bytes (25 of 1000 used): 413.
    const session2 = (await stack.api('POST', '/v1/sessions', { approval: 'never', workspace_id: 'ws-one' })).body.session;
    const bytes = await stack.api('POST', `/v1/sessions/${session2.id}/tools/fs.write/invoke`, { args: { path: 'a.txt', content: 'x'.repeat(1000) } });
    expect(bytes.status).toBe(413);
    expect(bytes.body.error).toMatchObject({ code: 'payload_too_large', details: [{ path: 'max_workspace_bytes' }, { path: 'invocation_id' }] });
    expect(await usage('acme')).toEqual({ files: 3, bytes: 25 });
    // Within the caps the same session writes as usual.
    const ok = await stack.api('POST', `/v1/sessions/${session2.id}/tools/fs.write/invoke`, { args: { path: 'a.txt', content: 'y'.repeat(900) } });
    expect(ok.status).toBe(200);
    expect(ok.body.invocation.status).toBe('succeeded');
  });
});
