import { createHash } from 'node:crypto';
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
    stack = await startStack({ workers: 1, label: 'sessions', env: { EXECUTOR: 'local', RECONCILE_S: '0.3', SESSION_RECORD_TTL_S: '600', API_STEP_ARGS_LIMIT: '4mb' } });
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
    // shell.exec is high-risk: an operator token's session.
    const ops = { token: TOKENS.ops };
    const session = await open({ approval: 'never' }, TOKENS.ops);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        invoke(session.id, 'shell.exec', { args: { command: 'echo ran >> counter.txt' }, correlation_id: 'once-1' }, ops),
      ),
    );
    for (const a of answers) expect(a.status).toBe(200);
    const ids = new Set(answers.map((a) => a.body.invocation.id));
    expect(ids.size).toBe(1);
    const read = await invoke(session.id, 'fs.read', { args: { path: 'counter.txt' } }, ops);
    expect(read.body.invocation.output.content).toBe('ran\n');
    // The same id through the header answers with that invocation too.
    const viaHeader = await stack.api('POST', `/v1/sessions/${session.id}/tools/shell.exec/invoke`, { args: { command: 'echo ran >> counter.txt' } }, { ...ops, headers: { 'X-Correlation-Id': 'once-1' } });
    expect(viaHeader.body.invocation.id).toBe([...ids][0]);
  });

  it('returns shell.exec exit code and output through a session (EXECUTOR=local, operator token)', async () => {
    const session = await open({}, TOKENS.ops);
    const r = await invoke(session.id, 'shell.exec', { args: { command: 'echo out; echo err >&2; exit 3' }, approved: true }, { token: TOKENS.ops });
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
    // shell.exec reaches the whole workspace: denied in a restricted session, even to an operator.
    const ops = await open({ allowed_paths: ['public'] }, TOKENS.ops);
    const scoped = await invoke(ops.id, 'shell.exec', { args: { command: 'true' }, approved: true }, { token: TOKENS.ops });
    expect(scoped.status).toBe(403);
    expect(scoped.body.error).toMatchObject({ code: 'policy_denied', reason: 'scope_not_allowed' });
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

  it('answers 409 when a tenant reuses its own session_id and keeps the first; another tenant gets its own session of that id', async () => {
    const id = `session-reuse${Date.now()}`;
    await open({ session_id: id, metadata: { first: true } });
    const again = await stack.api('POST', '/v1/sessions', { session_id: id, metadata: { first: false } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('session_exists');
    expect((await stack.api('GET', `/v1/sessions/${id}`)).body.session.metadata).toEqual({ first: true });

    // Another tenant learns nothing from the id: it gets a session of its own (no existence oracle, no squatting).
    const g = { token: TOKENS.globex };
    const theirs = await open({ session_id: id, approval: 'never', metadata: { tenant: 'globex' } }, TOKENS.globex);
    expect(theirs).toMatchObject({ id, status: 'open' });
    expect((await stack.api('POST', '/v1/sessions', { session_id: id }, g)).status).toBe(409);
    expect((await stack.api('GET', `/v1/sessions/${id}`)).body.session).toMatchObject({ approval: 'writes', metadata: { first: true } });
    expect((await stack.api('GET', `/v1/sessions/${id}`, undefined, g)).body.session).toMatchObject({ approval: 'never', metadata: { tenant: 'globex' } });
    expect((await stack.api('GET', `/v1/sessions/${id}/tools`, undefined, g)).status).toBe(200);

    // Each invokes in its own workspace; one correlation id in both is two invocations.
    const mineW = await invoke(id, 'fs.write', { args: { path: 'who.txt', content: 'acme' }, approved: true, correlation_id: 'shared-corr' });
    const theirsW = await invoke(id, 'fs.write', { args: { path: 'who.txt', content: 'globex' }, correlation_id: 'shared-corr' }, g);
    expect([mineW.status, theirsW.status]).toEqual([200, 200]);
    expect(mineW.body.invocation.id).not.toBe(theirsW.body.invocation.id);
    expect((await invoke(id, 'fs.read', { args: { path: 'who.txt' } })).body.invocation.output.content).toBe('acme');
    expect((await invoke(id, 'fs.read', { args: { path: 'who.txt' } }, g)).body.invocation.output.content).toBe('globex');
    // Invocations are read by their own tenant only.
    expect((await stack.api('GET', `/v1/invocations/${mineW.body.invocation.id}`)).body.invocation).toMatchObject({ session_id: id, status: 'succeeded' });
    expect((await stack.api('GET', `/v1/invocations/${theirsW.body.invocation.id}`, undefined, g)).body.invocation).toMatchObject({ session_id: id, status: 'succeeded' });
    expect((await stack.api('GET', `/v1/invocations/${mineW.body.invocation.id}`, undefined, g)).status).toBe(404);
    expect((await stack.api('GET', `/v1/invocations/${theirsW.body.invocation.id}/logs`)).status).toBe(404);

    // Closing acme's leaves globex's open and working.
    expect((await stack.api('DELETE', `/v1/sessions/${id}`)).body).toEqual({ closed: true });
    expect((await stack.api('GET', `/v1/sessions/${id}`, undefined, g)).body.session.status).toBe('open');
    expect((await invoke(id, 'fs.read', { args: { path: 'who.txt' } })).status).toBe(409);
    expect((await invoke(id, 'fs.read', { args: { path: 'who.txt' } }, g)).body.invocation).toMatchObject({ status: 'succeeded', output: { content: 'globex' } });
    const archived = async (tenant: string) =>
      JSON.parse((await stack.workspace.read(`tenants/${tenant}/workspaces/default/.agent/sessions/${id}/session.json`)).toString()) as { tenant: string; status: string };
    expect(await archived('acme')).toMatchObject({ tenant: 'acme', status: 'closed' });
    expect(await archived('globex')).toMatchObject({ tenant: 'globex', status: 'open' });
    // And a close by globex is its own.
    expect((await stack.api('DELETE', `/v1/sessions/${id}`, undefined, g)).body).toEqual({ closed: true });
    expect((await stack.api('DELETE', `/v1/sessions/${id}`, undefined, g)).status).toBe(409);
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
    await waitFor(async () => (await stack.redis.redis.hget(`${stack.config.KEY_PREFIX}session:acme:${session.id}`, 'status')) === 'expired', {
      timeoutMs: 10_000,
      label: 'the sweeper marked the session expired',
    });
    const r = await invoke(session.id, 'fs.read', { args: { path: 'a.txt' } });
    expect(r.status).toBe(409);
    // Its archive says so too.
    await waitFor(
      async () => JSON.parse((await stack.workspace.read(`tenants/acme/workspaces/default/.agent/sessions/${session.id}/session.json`)).toString()).status === 'expired',
      { label: 'the archived session says expired' },
    );
  });

  it('answers 403 policy_denied for a high-risk tool with a tenant token, records the denial, and runs it for an operator', async () => {
    const session = await open({ approval: 'never' });
    const r = await invoke(session.id, 'shell.exec', { args: { command: 'echo no > denied.txt' }, correlation_id: 'risky-1' });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'policy_denied', reason: 'high_risk_tool', details: [{ path: 'tool' }] });
    const denied = r.body.invocation;
    expect(denied).toMatchObject({ id: expect.stringMatching(/^inv-/), status: 'denied', tool_name: 'shell.exec', correlation_id: 'risky-1' });
    // Readable by its id, with the error as data.
    const read = await stack.api('GET', `/v1/invocations/${denied.id}`);
    expect(read.body.invocation).toMatchObject({
      status: 'denied',
      error: { code: 'policy_denied', message: expect.stringContaining('high-risk'), retryable: false },
      completed_at: expect.any(String),
    });
    // Nothing ran: the file is not there.
    expect((await invoke(session.id, 'fs.read', { args: { path: 'denied.txt' } })).body.invocation.status).toBe('failed');
    // A denial holds no correlation id: the same id reserved afterwards gets its own invocation.
    const again = await invoke(session.id, 'shell.exec', { args: { command: 'true' }, correlation_id: 'risky-1' });
    expect(again.status).toBe(403);
    expect(again.body.invocation.id).not.toBe(denied.id);
    // An operator's token runs it.
    const opsSession = await open({ approval: 'never' }, TOKENS.ops);
    const ran = await invoke(opsSession.id, 'shell.exec', { args: { command: 'true' }, correlation_id: 'risky-1' }, { token: TOKENS.ops });
    expect(ran.body.invocation).toMatchObject({ status: 'succeeded', exit_code: 0 });
  });

  it('records a 428 as a denied invocation; approving under the same correlation id then runs it once', async () => {
    const session = await open();
    const r = await invoke(session.id, 'fs.write', { args: { path: 'later.txt', content: 'ok' }, correlation_id: 'approve-me' });
    expect(r.status).toBe(428);
    expect(r.body.invocation).toMatchObject({ status: 'denied', error: { code: 'approval_required', retryable: false } });
    const ok = await invoke(session.id, 'fs.write', { args: { path: 'later.txt', content: 'ok' }, approved: true, correlation_id: 'approve-me' });
    expect(ok.status).toBe(200);
    expect(ok.body.invocation).toMatchObject({ status: 'succeeded', correlation_id: 'approve-me' });
    expect(ok.body.invocation.id).not.toBe(r.body.invocation.id);
    expect((await stack.api('GET', `/v1/invocations/${r.body.invocation.id}`)).body.invocation.status).toBe('denied');
  });

  it('lists the logs and the artifacts (path, size, sha256, content type) of an invocation, for its tenant only', async () => {
    const session = await open({}, TOKENS.ops);
    const ops = { token: TOKENS.ops };
    const content = 'artifact body\n';
    const w = (await invoke(session.id, 'fs.write', { args: { path: 'out/report.txt', content }, approved: true }, ops)).body.invocation;
    const arts = await stack.api('GET', `/v1/invocations/${w.id}/artifacts`, undefined, ops);
    expect(arts.status).toBe(200);
    expect(arts.body).toEqual({
      invocation_id: w.id,
      status: 'succeeded',
      artifacts: [{ path: 'out/report.txt', size: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex'), content_type: 'text/plain' }],
    });
    const x = (await invoke(session.id, 'shell.exec', { args: { command: 'echo line-one; printf \'{"a":1}\' > made.json' }, approved: true }, ops)).body.invocation;
    const logs = await stack.api('GET', `/v1/invocations/${x.id}/logs`, undefined, ops);
    expect(logs.body.logs.map((l: { message: string }) => l.message).join('\n')).toContain('line-one');
    const made = (await stack.api('GET', `/v1/invocations/${x.id}/artifacts`, undefined, ops)).body.artifacts;
    expect(made).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'made.json', size: 7, content_type: 'application/json' })]));
    // A read writes nothing.
    const r = (await invoke(session.id, 'fs.read', { args: { path: 'out/report.txt' } }, ops)).body.invocation;
    expect((await stack.api('GET', `/v1/invocations/${r.id}/artifacts`, undefined, ops)).body.artifacts).toEqual([]);
    for (const path of ['logs', 'artifacts']) expect((await stack.api('GET', `/v1/invocations/${x.id}/${path}`)).status).toBe(404);
  });

  it('fails an invocation whose output passes the tool output_limit_kb with output_too_large, keeping what it wrote', async () => {
    const session = await open();
    // 300 000 control characters: each one is six bytes of JSON, far over fs.read's 1536 KB.
    // Its args are 1.8 MB of JSON: the stack raises API_STEP_ARGS_LIMIT for it.
    expect((await invoke(session.id, 'fs.write', { args: { path: 'big.bin', content: '\u0001'.repeat(300_000) }, approved: true })).status).toBe(200);
    const r = await invoke(session.id, 'fs.read', { args: { path: 'big.bin' } });
    expect(r.status).toBe(200);
    expect(r.body.invocation).toMatchObject({ status: 'failed', output: null, error: { code: 'output_too_large', message: expect.stringContaining('output_limit_kb of 1536'), retryable: false } });
    const tools = (await stack.api('GET', `/v1/sessions/${session.id}/tools`)).body.tools;
    const read = tools.find((t: { name: string }) => t.name === 'fs.read');
    expect(read.constraints.output_limit_kb).toBe(1536);
    expect(read.output_schema).toMatchObject({ type: 'object', properties: { content: { type: 'string' } } });
  });

  it('answers 504 for a tool running past its timeout, and the record says it timed out', async () => {
    const session = await open({ approval: 'never' }, TOKENS.ops);
    const r = await invoke(session.id, 'shell.exec', { args: { command: 'sleep 30', timeout_s: 1 } }, { token: TOKENS.ops });
    expect(r.status).toBe(504);
    expect(r.body.error).toMatchObject({ code: 'timeout', details: [{ path: 'invocation_id', message: r.body.invocation.id }] });
    const read = await stack.api('GET', `/v1/invocations/${r.body.invocation.id}`, undefined, { token: TOKENS.ops });
    expect(read.body.invocation).toMatchObject({ status: 'failed', error: { code: 'exec_timeout' } });
  });

  it('runs an invocation whose enqueue was lost: the reconciler gives it its job', async () => {
    const session = await open();
    // Reserved as the API does, and then the API "died" before enqueueing.
    const reservation = await stack.deps.sessions.reserve('acme', session.id, { id: 'inv-00000000000feed1', tool_name: 'log', args: { message: 'hi', level: 'info', repeat: 1 } });
    expect(reservation).toEqual({ invocationId: 'inv-00000000000feed1', reserved: true });
    await waitFor(async () => (await stack.api('GET', '/v1/invocations/inv-00000000000feed1')).body.invocation.status === 'succeeded', {
      timeoutMs: 10_000,
      label: 'the reconciler re-enqueued the lost invocation and it succeeded',
    });
  });

  it('answers from the workspace archive once Redis let the records go, and keeps them SESSION_RECORD_TTL_S', async () => {
    const session = await open();
    const w = (await invoke(session.id, 'fs.write', { args: { path: 'arch.txt', content: 'kept' }, approved: true })).body.invocation;
    const d = (await invoke(session.id, 'fs.write', { args: { path: 'arch.txt', content: 'no' } })).body.invocation;
    await stack.api('DELETE', `/v1/sessions/${session.id}`);
    const prefix = stack.config.KEY_PREFIX;
    const ttl = await stack.redis.redis.ttl(`${prefix}inv:${w.id}`);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    // Their Redis TTL ends (made to end now).
    for (const key of [`${prefix}inv:${w.id}`, `${prefix}inv:${d.id}`, `${prefix}session:acme:${session.id}`]) await stack.redis.redis.pexpire(key, 1);
    await waitFor(async () => (await stack.redis.redis.exists(`${prefix}inv:${w.id}`)) === 0, { label: 'the invocation left Redis' });
    expect((await stack.api('GET', `/v1/invocations/${w.id}`)).body.invocation).toMatchObject({ id: w.id, status: 'succeeded', output: { path: 'arch.txt' } });
    expect((await stack.api('GET', `/v1/invocations/${w.id}/artifacts`)).body.artifacts).toHaveLength(1);
    expect((await stack.api('GET', `/v1/invocations/${d.id}`)).body.invocation).toMatchObject({ status: 'denied' });
    expect((await stack.api('GET', `/v1/sessions/${session.id}`)).body.session).toMatchObject({ id: session.id, status: 'closed' });
    // Still another tenant's 404, and the archive sits in the session's workspace.
    expect((await stack.api('GET', `/v1/invocations/${w.id}`, undefined, { token: TOKENS.globex })).status).toBe(404);
    const archived = await stack.workspace.read(`tenants/acme/workspaces/default/.agent/sessions/${session.id}/invocations/${w.id}.json`);
    expect(JSON.parse(archived.toString()).status).toBe('succeeded');
  });

  it('counts invocations by tool and status and denials by a fixed reason, with bounded labels', async () => {
    const session = await open();
    await invoke(session.id, 'fs.read', { args: { path: 'nothing-here.txt' } });
    await invoke(session.id, 'fs.write', { args: { path: 'm.txt', content: 'x' } });
    expect((await invoke(session.id, 'no.such.tool', { args: {} })).status).toBe(400);
    const api = (await stack.api('GET', '/metrics')).body as string;
    expect(api).toMatch(/agentyard_invocation_denials_total\{tool="fs.write",reason="approval_required"\} [1-9]/);
    expect(api).toMatch(/agentyard_invocations_total\{tool="fs.write",status="denied"\} [1-9]/);
    expect(api).not.toContain('no.such.tool');
    const worker = await stack.workers[0]!.registry.metrics();
    expect(worker).toMatch(/agentyard_invocations_total\{tool="fs.read",status="failed"\} [1-9]/);
    expect(worker).toMatch(/agentyard_invocation_duration_seconds_count\{tool="fs.read",status="failed"\} [1-9]/);
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
