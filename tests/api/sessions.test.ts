import type { AddressInfo } from 'node:net';
import { createLogger } from '@agentyard/observability';
import { buildApp } from '../../apps/api/src/app';
import { createApiDeps } from '../../apps/api/src/compose';
import { createWorkerRuntime } from '../../apps/worker/src/compose';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** Sessions and direct tool invocations over HTTP, run by an in-process worker on real Redis. */
describe('sessions (POST /v1/sessions, invoke, close)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'sessions', env: { EXECUTOR: 'local', RECONCILE_S: '0.3' } });
  });
  afterAll(() => stack.stop());

  const open = async (body: Record<string, unknown> = {}, token?: string) => {
    const r = await stack.api('POST', '/v1/sessions', body, token ? { token } : {});
    expect(r.status).toBe(201);
    return r.body.session as { id: string; status: string; expires_at: string };
  };
  const invoke = (sid: string, tool: string, body: Record<string, unknown>, o: { token?: string; query?: string } = {}) =>
    stack.api('POST', `/v1/sessions/${sid}/tools/${tool}/invoke${o.query ?? ''}`, body, o.token ? { token: o.token } : {});

  it("runs the seed's smoke flow: create, tools, fs.write approved, fs.read gets it back, close", async () => {
    const session = await open();
    expect(session.id).toMatch(/^session-[0-9a-f]{16}$/);
    expect(session.status).toBe('open');
    // Default expiry: one hour.
    expect(Date.parse(session.expires_at) - Date.now()).toBeGreaterThan(3500_000);

    const tools = await stack.api('GET', `/v1/sessions/${session.id}/tools`);
    expect(tools.status).toBe(200);
    const names = tools.body.tools.map((t: { name: string }) => t.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['fs.read', 'fs.write']));
    const write = tools.body.tools.find((t: { name: string }) => t.name === 'fs.write');
    expect(write).toMatchObject({
      side_effects: 'reversible',
      risk_level: 'medium',
      scope: 'workspace',
      constraints: { timeout_seconds: 60, max_retries: 0, output_limit_kb: 1024 },
      input_schema: { properties: { path: { type: 'string' }, content: { type: 'string' } } },
    });
    expect(write.examples.length).toBeGreaterThan(0);

    const w = await invoke(session.id, 'fs.write', { args: { path: 'smoke/hello.txt', content: 'hello from a session' }, approved: true });
    expect(w.status).toBe(200);
    expect(w.body.invocation).toMatchObject({ id: expect.stringMatching(/^inv-[0-9a-f]{16}$/), session_id: session.id, tool_name: 'fs.write', status: 'succeeded', error: null });
    expect(w.body.invocation.duration_ms).toBeGreaterThanOrEqual(0);

    const r = await invoke(session.id, 'fs.read', { args: { path: 'smoke/hello.txt' } });
    expect(r.status).toBe(200);
    expect(r.body.invocation).toMatchObject({ status: 'succeeded', output: { content: 'hello from a session' } });

    const again = await stack.api('GET', `/v1/invocations/${w.body.invocation.id}`);
    expect(again.body.invocation).toMatchObject({ id: w.body.invocation.id, status: 'succeeded' });

    expect((await stack.api('DELETE', `/v1/sessions/${session.id}`)).body).toEqual({ closed: true });
    expect((await stack.api('GET', `/v1/sessions/${session.id}`)).body.session.status).toBe('closed');
    const late = await invoke(session.id, 'fs.read', { args: { path: 'smoke/hello.txt' } });
    expect(late.status).toBe(409);
  });

  it('runs the tool once for ten concurrent invokes with one correlation id, and all ten get its invocation', async () => {
    const session = await open({ approval: 'never' });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        invoke(session.id, 'shell.exec', { args: { command: 'echo ran >> counter.txt' }, correlation_id: 'once-1' }),
      ),
    );
    for (const a of answers) expect(a.status).toBe(200);
    const ids = new Set(answers.map((a) => a.body.invocation.id));
    expect(ids.size).toBe(1);
    const read = await invoke(session.id, 'fs.read', { args: { path: 'counter.txt' } });
    expect(read.body.invocation.output.content).toBe('ran\n');
    // The same id through the header answers with that invocation too.
    const viaHeader = await stack.api('POST', `/v1/sessions/${session.id}/tools/shell.exec/invoke`, { args: { command: 'echo ran >> counter.txt' } }, { headers: { 'X-Correlation-Id': 'once-1' } });
    expect(viaHeader.body.invocation.id).toBe([...ids][0]);
  });

  it('returns shell.exec exit code and output through a session (EXECUTOR=local)', async () => {
    const session = await open();
    const r = await invoke(session.id, 'shell.exec', { args: { command: 'echo out; echo err >&2; exit 3' }, approved: true });
    expect(r.status).toBe(200);
    expect(r.body.invocation).toMatchObject({ status: 'succeeded', exit_code: 3, output: { stdout: 'out\n', stderr: 'err\n' } });
    expect(r.body.invocation.logs.map((l: { message: string }) => l.message).join('\n')).toContain('out');
  });

  it('answers 428 approval_required for a write without approved, and runs nothing', async () => {
    const session = await open();
    const r = await invoke(session.id, 'fs.write', { args: { path: 'x.txt', content: 'no' } });
    expect(r.status).toBe(428);
    expect(r.body.error.code).toBe('approval_required');
    const read = await invoke(session.id, 'fs.read', { args: { path: 'x.txt' } });
    expect(read.body.invocation).toMatchObject({ status: 'failed', error: { code: expect.any(String) } });
  });

  it('answers 403 policy_denied for a path outside allowed_paths, naming the argument', async () => {
    const session = await open({ allowed_paths: ['public'] });
    const r = await invoke(session.id, 'fs.read', { args: { path: 'secret/keys.txt' } });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'policy_denied', details: [{ path: 'args.path' }] });
    // Inside is fine (the file is missing: the tool runs and fails, it is not denied).
    expect((await invoke(session.id, 'fs.read', { args: { path: 'public/a.txt' } })).status).toBe(200);
    // shell.exec reaches the whole workspace: denied in a restricted session.
    expect((await invoke(session.id, 'shell.exec', { args: { command: 'true' }, approved: true })).status).toBe(403);
  });

  it('answers 400 naming the field for bad args, a tenant in the body, or a bad expiry', async () => {
    const session = await open();
    const bad = await invoke(session.id, 'fs.read', { args: { path: 42 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('args.path');
    const tenant = await stack.api('POST', '/v1/sessions', { principal: 'globex' });
    expect(tenant.status).toBe(400);
    expect(tenant.body.error.details[0].path).toBe('principal');
    const long = await stack.api('POST', '/v1/sessions', { expires_in_seconds: 30 * 24 * 3600 });
    expect(long.status).toBe(400);
    expect(long.body.error.details[0].path).toBe('expires_in_seconds');
  });

  it('answers 409 for a client-chosen session_id that exists, whoever owns it, and keeps the first', async () => {
    const id = `session-reuse${Date.now()}`;
    await open({ session_id: id, metadata: { first: true } });
    const again = await stack.api('POST', '/v1/sessions', { session_id: id, metadata: { first: false } });
    expect(again.status).toBe(409);
    expect((await stack.api('POST', '/v1/sessions', { session_id: id }, { token: TOKENS.globex })).status).toBe(409);
    expect((await stack.api('GET', `/v1/sessions/${id}`)).body.session.metadata).toEqual({ first: true });
  });

  it("hides a session and its invocations from another tenant (404)", async () => {
    const session = await open();
    const inv = (await invoke(session.id, 'fs.read', { args: { path: 'nothing.txt' } })).body.invocation;
    const other = { token: TOKENS.globex };
    expect((await stack.api('GET', `/v1/sessions/${session.id}`, undefined, other)).status).toBe(404);
    expect((await stack.api('GET', `/v1/sessions/${session.id}/tools`, undefined, other)).status).toBe(404);
    expect((await stack.api('DELETE', `/v1/sessions/${session.id}`, undefined, other)).status).toBe(404);
    expect((await invoke(session.id, 'fs.read', { args: { path: 'nothing.txt' } }, other)).status).toBe(404);
    expect((await stack.api('GET', `/v1/invocations/${inv.id}`, undefined, other)).status).toBe(404);
    expect((await stack.api('GET', `/v1/sessions/${session.id}`)).body.session.status).toBe('open');
  });

  it('answers 202 at once with ?wait=false; the invocation is then polled to its end', async () => {
    const session = await open();
    const r = await invoke(session.id, 'wait', { args: { seconds: 0.3 } }, { query: '?wait=false' });
    expect(r.status).toBe(202);
    expect(r.body.invocation.status).toBe('running');
    await waitFor(async () => (await stack.api('GET', `/v1/invocations/${r.body.invocation.id}`)).body.invocation.status === 'succeeded', { label: 'the wait invocation succeeded' });
  });

  it('closes an expired session through the sweeper while nobody reads it', async () => {
    const session = await open({ expires_in_seconds: 1 });
    // Watch the record in Redis, not through the API: a read must not be what closes it.
    await waitFor(async () => (await stack.redis.redis.hget(`${stack.config.KEY_PREFIX}session:${session.id}`, 'status')) === 'expired', {
      timeoutMs: 10_000,
      label: 'the sweeper marked the session expired',
    });
    const r = await invoke(session.id, 'fs.read', { args: { path: 'a.txt' } });
    expect(r.status).toBe(409);
  });

  it("passes the seed's persistence check: after a restart of the API and the workers, old invocations read succeeded", async () => {
    const session = await open();
    const first = await invoke(session.id, 'fs.write', { args: { path: 'p/one.txt', content: '1' }, approved: true, correlation_id: 'persist-1' });
    const second = await invoke(session.id, 'fs.read', { args: { path: 'p/one.txt' } });
    expect([first.body.invocation.status, second.body.invocation.status]).toEqual(['succeeded', 'succeeded']);

    // The old workers go; a new API and a new worker start from nothing but Redis and the workspace.
    await Promise.all(stack.workers.splice(0).map((w) => w.shutdown(0)));
    const logger = createLogger({ level: 'silent', name: 'restarted', secrets: [], destination: process.stderr });
    const deps = await createApiDeps(stack.config, { logger, workspace: stack.workspace, version: 'restarted' });
    const worker = await createWorkerRuntime(stack.config, { logger, workspace: stack.workspace });
    void worker.worker.run();
    const server = buildApp(deps).listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const get = async (path: string, init: RequestInit = {}) => {
        const res = await fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${TOKENS.acme}`, 'Content-Type': 'application/json' } });
        return { status: res.status, body: (await res.json()) as any };
      };
      for (const inv of [first.body.invocation, second.body.invocation]) {
        expect((await get(`/v1/invocations/${inv.id}`)).body.invocation).toMatchObject({ id: inv.id, status: 'succeeded' });
      }
      expect((await get(`/v1/sessions/${session.id}`)).body.session.status).toBe('open');
      // Its correlation id is still reserved: the write is not run again.
      const replay = await get(`/v1/sessions/${session.id}/tools/fs.write/invoke`, {
        method: 'POST',
        body: JSON.stringify({ args: { path: 'p/one.txt', content: '2' }, approved: true, correlation_id: 'persist-1' }),
      });
      expect(replay.body.invocation.id).toBe(first.body.invocation.id);
      // The new worker runs new invocations of the old session.
      const r = await get(`/v1/sessions/${session.id}/tools/fs.read/invoke`, { method: 'POST', body: JSON.stringify({ args: { path: 'p/one.txt' } }) });
      expect(r.body.invocation).toMatchObject({ status: 'succeeded', output: { content: '1' } });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await worker.shutdown(0);
      await deps.close();
    }
  });
});
