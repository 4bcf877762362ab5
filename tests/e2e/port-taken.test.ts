import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');

/** A loopback listener that holds a port the way another process on the host would. */
async function occupy(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, () => r()));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((r) => server.close(() => r())) };
}

function runApi(env: Record<string, string>): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [API_ENTRY], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, out, ms: Date.now() - t0 });
    }),
  );
}

/** Built processes whose port is already taken: one clear line and a non-zero exit. */
describe('a process whose port is taken', () => {
  let stack: Stack;
  let taken: Awaited<ReturnType<typeof occupy>>;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'port-taken' });
    taken = await occupy();
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await taken.close();
    await stack.stop();
  });

  it('api: exits 1 with one line naming API_PORT, never claiming it listens', async () => {
    const r = await runApi({ ...stack.env, API_PORT: String(taken.port), LOG_LEVEL: 'info' });
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('listening');
    expect(r.out).not.toMatch(/\n\s+at /); // no stack trace
    const lines = r.out.trim().split('\n').filter((l) => l.includes('API_PORT'));
    expect(lines).toEqual([`agentyard-api: API_PORT ${taken.port} is already in use by another process: stop it or set API_PORT to a free port`]);
    // It closed its Redis connections instead of waiting on them.
    expect(r.ms).toBeLessThan(10_000);
  });

  it('worker: a second worker on the metrics port exits 1 with one line naming WORKER_METRICS_PORT, no stack', async () => {
    const w = spawnWorker({ ...stack.env, WORKER_METRICS_PORT: String(taken.port), LOG_LEVEL: 'info' });
    workers.push(w);
    const { code } = await w.exited;
    expect(code).toBe(1);
    expect(w.output()).not.toMatch(/\n\s+at /);
    expect(w.output()).not.toContain('agentyard worker started');
    expect(w.output().trim().split('\n').filter((l) => l.includes('WORKER_METRICS_PORT'))).toEqual([
      `agentyard-worker: WORKER_METRICS_PORT ${taken.port} is already in use (another worker on this host?): give each worker its own port, or 0 for any free port`,
    ]);
  });

  it('worker: WORKER_METRICS_PORT=0 binds a free port and logs the port it chose', async () => {
    const w = spawnWorker({ ...stack.env, WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info' });
    workers.push(w);
    const port = await waitFor(() => Number(/"requested":0,"port":(\d+),"msg":"worker health and metrics listening"/.exec(w.output())?.[1]) || 0, {
      label: 'the chosen metrics port in the worker log',
      timeoutMs: 15_000,
    });
    expect(port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });
});
