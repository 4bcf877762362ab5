import { execFile } from 'node:child_process';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

const CLI = join(__dirname, '..', '..', 'apps', 'cli', 'dist', 'main.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function yardctl(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A loopback proxy that cuts the first connection after `bytes` bytes from the server. */
async function droppingProxy(targetPort: number, bytes: number): Promise<{ port: number; cuts: number; close(): void }> {
  const state = { cuts: 0 };
  let first = true;
  const server: Server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1');
    client.pipe(upstream);
    const cut = first;
    first = false;
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (cut && sent + chunk.length >= bytes) {
        client.write(chunk.subarray(0, bytes - sent));
        state.cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      sent += chunk.length;
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { port, get cuts() { return state.cuts; }, close: () => server.close() } as { port: number; cuts: number; close(): void };
}

/** An HTTP front that answers its first request 503 with Retry-After: 1, then proxies. */
async function unavailableOnce(targetPort: number): Promise<{ port: number; refused: number; close(): void }> {
  const state = { refused: 0 };
  const server = createHttpServer((req, res) => {
    if (state.refused === 0) {
      state.refused++;
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'a dependency (Redis or storage) is unavailable' } }));
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    get refused() {
      return state.refused;
    },
    close: () => server.close(),
  };
}

describe('yardctl against a running stack', () => {
  let stack: Stack;
  let env: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'cli' });
    env = { AGENTYARD_API_URL: stack.baseUrl, AGENTYARD_TOKEN: TOKENS.acme };
  });
  afterAll(() => stack.stop());

  it('creates, starts and waits for a run, exiting 0 with JSON output', async () => {
    const steps = JSON.stringify([{ tool: 'fs.write', args: { path: 'cli.txt', content: 'from yardctl' } }]);
    const r = await yardctl(['--json', 'runs', 'create', '--steps', steps, '--wait'], env);
    expect(r.code).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run).toMatchObject({ status: 'succeeded', steps: [{ tool: 'fs.write', status: 'succeeded' }] });
    const got = await yardctl(['--json', 'runs', 'get', run.id], env);
    expect(JSON.parse(got.stdout).id).toBe(run.id);
    const list = await yardctl(['--json', 'runs', 'list', '--all', '--limit', '1'], env);
    expect(JSON.parse(list.stdout).runs.map((x: { id: string }) => x.id)).toContain(run.id);
  });

  it('exits 1 when a waited-for run is dead-lettered, and retry/cancel work', async () => {
    const steps = JSON.stringify([{ tool: 'fail', args: { message: 'nope' } }]);
    const r = await yardctl(['--json', 'runs', 'create', '--steps', steps, '--wait'], env);
    expect(r.code).toBe(1);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('dead_lettered');
    expect((await yardctl(['runs', 'retry', run.id], env)).code).toBe(0);
    const created = JSON.parse((await yardctl(['--json', 'runs', 'create', '--steps', JSON.stringify([{ tool: 'wait', args: { seconds: 30 } }]), '--start'], env)).stdout);
    const cancel = await yardctl(['--json', 'runs', 'cancel', created.run_id, '--reason', 'test'], env);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ run_id: created.run_id, status: 'cancelled' });
  });

  it('exits 3 naming the field on a 4xx, 2 on a usage error, and 4 when the API is unreachable', async () => {
    const bad = await yardctl(['runs', 'create', '--steps', JSON.stringify([{ tool: 'no.such', args: {} }])], env);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('steps[0].tool');
    expect((await yardctl(['runs', 'create', '--steps', '{oops'], env)).code).toBe(2);
    expect((await yardctl(['runs', 'frobnicate'], env)).code).toBe(2);
    const down = await yardctl(['queue', 'stats'], { ...env, AGENTYARD_API_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(4);
  });

  it('lists and replays dead letters with an operator token, and is refused with a tenant token', async () => {
    const r = await yardctl(['--json', 'runs', 'create', '--steps', JSON.stringify([{ tool: 'fail', args: { message: 'dlq me' } }]), '--wait'], env);
    const runId = JSON.parse(r.stdout).id;
    const ops = { ...env, AGENTYARD_TOKEN: TOKENS.ops };
    const list = await yardctl(['--json', 'dlq', 'list'], ops);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).dead_letters.map((d: { run_id: string }) => d.run_id)).toContain(runId);
    expect((await yardctl(['dlq', 'list'], env)).code).toBe(3);
    const replay = await yardctl(['--json', 'dlq', 'replay', runId], ops);
    expect(JSON.parse(replay.stdout)).toMatchObject({ run_id: runId, status: 'queued' });
  });

  it('shows queue stats and live workers as JSON: the fleet to an operator, its own figures to a tenant', async () => {
    const ops = { ...env, AGENTYARD_TOKEN: TOKENS.ops };
    const stats = JSON.parse((await yardctl(['--json', 'queue', 'stats'], ops)).stdout);
    expect(stats).toMatchObject({ workers: 1, waiting: expect.any(Number) });
    const workers = JSON.parse((await yardctl(['--json', 'workers'], ops)).stdout).workers;
    expect(workers).toHaveLength(1);
    const mine = JSON.parse((await yardctl(['--json', 'queue', 'stats'], env)).stdout);
    expect(mine).toMatchObject({ tenant: 'acme', waiting: expect.any(Number), active: expect.any(Number) });
    expect(mine.workers).toBeUndefined();
    const text = await yardctl(['queue', 'stats'], env);
    expect(text.stdout).toMatch(/^tenant=acme .*limits\.max_concurrent_runs=20/m);
  });

  it('tails logs through a connection the server side drops, printing every event once, in order', async () => {
    const steps = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, tool: 'log', args: { message: `line ${i} ${'x'.repeat(40)}` }, ...(i ? { needs: [`s${i - 1}`] } : {}) }));
    const created = JSON.parse((await yardctl(['--json', 'runs', 'create', '--steps', JSON.stringify(steps), '--wait'], env)).stdout);
    const proxy = await droppingProxy(Number(new URL(stack.baseUrl).port), 1500);
    try {
      const r = await yardctl(['--json', 'logs', 'tail', created.id], { ...env, AGENTYARD_API_URL: `http://127.0.0.1:${proxy.port}` });
      expect(r.code).toBe(0);
      expect(proxy.cuts).toBe(1);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      expect(events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
      const history = (await stack.api('GET', `/agent/logs/${created.id}`)).body.events;
      expect(events.map((e) => e.id)).toEqual(history.map((e: { id: string }) => e.id));
    } finally {
      proxy.close();
    }
  });

  it('tails a run that was retried past its first end to the final one, exiting 0 for the run that then succeeded', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 1 },
      steps: [{ id: 'flaky', tool: 'fail', args: { message: 'first time only', retryable: true, times: 1 } }],
    });
    await stack.waitForStatus(body.run_id, ['dead_lettered']);
    await stack.execute({ action: 'retry', run_id: body.run_id });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const r = await yardctl(['--json', 'logs', 'tail', body.run_id], env);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'end').map((e) => e.status)).toEqual(['dead_lettered', 'succeeded']);
    const history = (await stack.api('GET', `/agent/logs/${body.run_id}`)).body.events;
    expect(events.map((e) => e.id)).toEqual(history.map((e: { id: string }) => e.id));
  });

  it('keeps tailing through a 503, waiting the Retry-After before it resumes', async () => {
    const created = JSON.parse((await yardctl(['--json', 'runs', 'create', '--steps', JSON.stringify([{ tool: 'log', args: { message: 'hi' } }]), '--wait'], env)).stdout);
    const front = await unavailableOnce(Number(new URL(stack.baseUrl).port));
    try {
      const t0 = Date.now();
      const r = await yardctl(['--json', 'logs', 'tail', created.id], { ...env, AGENTYARD_API_URL: `http://127.0.0.1:${front.port}` });
      expect(r.code).toBe(0);
      expect(front.refused).toBe(1);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
    } finally {
      front.close();
    }
  });

  it('says a token is missing, naming AGENTYARD_TOKEN and --token, before calling the API', async () => {
    const { AGENTYARD_TOKEN: _unset, ...noToken } = env;
    // An unreachable URL: had it called, the answer would be exit 4 "cannot reach the API".
    const r = await yardctl(['queue', 'stats'], { ...noToken, AGENTYARD_API_URL: 'http://127.0.0.1:9' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^no token: .*AGENTYARD_TOKEN.*--token/);
    const tail = await yardctl(['logs', 'tail', 'run_x'], { ...noToken, AGENTYARD_API_URL: 'http://127.0.0.1:9' });
    expect(tail.code).toBe(2);
    expect(tail.stderr).toContain('AGENTYARD_TOKEN');
  });

  it('answers a refused token with the 401 and a hint naming AGENTYARD_TOKEN and --token', async () => {
    const r = await yardctl(['runs', 'list'], { ...env, AGENTYARD_TOKEN: 'tok_not_a_key_1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^401 unauthorized: /);
    expect(r.stderr).toContain('the token was refused: set AGENTYARD_TOKEN or pass --token');
    const created = JSON.parse((await yardctl(['--json', 'runs', 'create', '--steps', JSON.stringify([{ tool: 'log', args: { message: 'x' } }])], env)).stdout);
    const tail = await yardctl(['logs', 'tail', created.run_id], { ...env, AGENTYARD_TOKEN: 'tok_not_a_key_1' });
    expect(tail.code).toBe(3);
    expect(tail.stderr).toContain('--token');
  });

  it('describes every command and subcommand in --help', async () => {
    const undescribed: string[] = [];
    const visit = async (path: string[]) => {
      const help = (await yardctl([...path, '--help'], env)).stdout;
      const section = help.split('\nCommands:\n')[1]?.split('\n\n')[0];
      if (!section) return;
      // An entry starts two spaces in; its description follows on the same line after a gap.
      for (const line of section.split('\n').filter((l) => /^  \S/.test(l))) {
        const name = line.trim().split(/\s+/)[0];
        if (name === 'help') continue;
        if (!/^  \S.*?\S {2,}\S/.test(line)) undescribed.push([...path, name].join(' '));
        await visit([...path, name]);
      }
    };
    await visit([]);
    expect(undescribed).toEqual([]);
    // The walk reached the subcommands: it would pass vacuously on a help it cannot read.
    expect((await yardctl(['logs', '--help'], env)).stdout).toMatch(/tail \[options\] <run_id> +print the events/);
  });

  it('opens a session, lists its tools, invokes fs.write and fs.read, and closes it, with exit codes that say what happened', async () => {
    const created = await yardctl(['--json', 'sessions', 'create', '--approval', 'writes'], env);
    expect(created.code).toBe(0);
    const sid = JSON.parse(created.stdout).id as string;
    expect(sid).toMatch(/^session-[0-9a-f]{16}$/);
    const tools = await yardctl(['sessions', 'tools', sid], env);
    expect(tools.stdout).toMatch(/^fs\.write\s+risk=medium/m);
    // Without --approved a write is refused: exit 3 with the 428.
    const refused = await yardctl(['sessions', 'invoke', sid, 'fs.write', '--args', '{"path":"s.txt","content":"via cli"}'], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('428 approval_required');
    const wrote = await yardctl(['--json', 'sessions', 'invoke', sid, 'fs.write', '--args', '{"path":"s.txt","content":"via cli"}', '--approved', '--correlation-id', 'cli-1'], env);
    expect(wrote.code).toBe(0);
    expect(JSON.parse(wrote.stdout)).toMatchObject({ status: 'succeeded', correlation_id: 'cli-1' });
    const read = await yardctl(['--json', 'sessions', 'invoke', sid, 'fs.read', '--args', '{"path":"s.txt"}'], env);
    expect(JSON.parse(read.stdout).output.content).toBe('via cli');
    // A tool that ran and failed: exit 1.
    expect((await yardctl(['sessions', 'invoke', sid, 'fs.read', '--args', '{"path":"missing.txt"}'], env)).code).toBe(1);
    expect((await yardctl(['sessions', 'close', sid], env)).stdout.trim()).toBe(`${sid} closed`);
    expect((await yardctl(['sessions', 'get', sid], env)).stdout).toMatch(new RegExp(`^${sid}\\s+closed`));
  });

  it('passes smoke with the documented lines, and fails it naming the check when nothing listens', async () => {
    const ok = await yardctl(['smoke'], env);
    expect(ok.code).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[0]).toBe('health_ok');
    expect(lines[1]).toMatch(/^session_created:session-[0-9a-f]{16}$/);
    expect(lines.slice(2, 6)).toEqual(['tools_ok', 'fs_write_ok', 'fs_read_ok', 'session_closed']);
    expect(lines[6]).toMatch(/^run_created:run_[0-9a-z]{26}$/);
    expect(lines.slice(7)).toEqual(['stream_ok', 'SMOKE_OK']);
    // The smoke session is closed, as a client sees it.
    const sid = lines[1]!.split(':')[1]!;
    expect((await stack.api('GET', `/v1/sessions/${sid}`)).body.session.status).toBe('closed');
    const bad = await yardctl(['smoke'], { ...env, AGENTYARD_API_URL: 'http://127.0.0.1:9' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^SMOKE_FAILED:health: /);
  });
});
