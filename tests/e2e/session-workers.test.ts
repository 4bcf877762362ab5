import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

/** Sessions on real worker processes from the built entrypoint; the API runs in-process. */
describe('session invocations on worker processes', () => {
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'e2e-sessions', env: { EXECUTOR: 'local', RECONCILE_S: '0.5' } });
  });
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });
  afterAll(() => stack.stop());
  const ops = { token: TOKENS.ops };
  const start = () => {
    const w = spawnWorker(stack.env);
    procs.push(w);
    return w;
  };

  it('ends an invocation whose worker was killed with -9 mid-tool `interrupted`, never runs it twice, and lets its correlation id run again', async () => {
    const first = start();
    const session = (await stack.api('POST', '/v1/sessions', { approval: 'never' }, ops)).body.session;
    const path = `/v1/sessions/${session.id}/tools/shell.exec/invoke`;
    const body = { args: { command: 'echo started >> runs.txt; sleep 30' }, correlation_id: 'killed-1' };
    const r = await stack.api('POST', `${path}?wait=false`, body, ops);
    expect(r.status).toBe(202);
    const id = r.body.invocation.id as string;
    await waitFor(async () => (await stack.api('GET', `/v1/invocations/${id}`, undefined, ops)).body.invocation.started_at !== null, {
      timeoutMs: 20_000,
      label: 'the first worker process began the invocation',
    });
    first.child.kill('SIGKILL');
    await first.exited;

    start();
    const killedAt = Date.now();
    await waitFor(async () => (await stack.api('GET', `/v1/invocations/${id}`, undefined, ops)).body.invocation.status === 'failed', {
      timeoutMs: 30_000,
      label: 'the invocation of the killed worker ended',
    });
    // Lock 3 s + stalled check 1 s in this stack.
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const inv = (await stack.api('GET', `/v1/invocations/${id}`, undefined, ops)).body.invocation;
    expect(inv.error).toMatchObject({ code: 'interrupted', retryable: true });
    // The failure gave its correlation id back: the same id runs again, once, on the new worker.
    const again = await stack.api('POST', path, { args: { command: 'echo started >> runs.txt' }, correlation_id: 'killed-1' }, ops);
    expect(again.body.invocation).toMatchObject({ status: 'succeeded', exit_code: 0 });
    expect(again.body.invocation.id).not.toBe(id);
    const read = await stack.api('POST', `/v1/sessions/${session.id}/tools/fs.read/invoke`, { args: { path: 'runs.txt' } }, ops);
    // One line: the sandbox of the killed command never synced back, and nothing ran it again.
    expect(read.body.invocation.output.content).toBe('started\n');
  });

  it('keeps old invocations readable and the session usable across a restart of the worker processes', async () => {
    const a = start();
    const session = (await stack.api('POST', '/v1/sessions', {})).body.session;
    const invoke = (tool: string, b: Record<string, unknown>) => stack.api('POST', `/v1/sessions/${session.id}/tools/${tool}/invoke`, b);
    const w = (await invoke('fs.write', { args: { path: 'r.txt', content: 'before' }, approved: true })).body.invocation;
    const r = (await invoke('fs.read', { args: { path: 'r.txt' } })).body.invocation;
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    start();
    for (const inv of [w, r]) expect((await stack.api('GET', `/v1/invocations/${inv.id}`)).body.invocation.status).toBe('succeeded');
    expect((await invoke('fs.read', { args: { path: 'r.txt' } })).body.invocation).toMatchObject({ status: 'succeeded', output: { content: 'before' } });
  });
});
