import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/global-setup';
import { hasRedisServer, startPrivateRedis, type PrivateRedis } from '../helpers/private-redis';
import { waitFor } from '../helpers/wait-for';

const ROOT = join(__dirname, '..', '..');
const describeWithRedis = hasRedisServer ? describe : describe.skip;

/** scripts/dev on its last build, a Redis of this test's own and free ports (never 8080). */
const workspaces = mkdtempSync(join(tmpdir(), 'ay-dev-ws-'));

function runDev(env: Record<string, string>) {
  const child = spawn('bash', ['scripts/dev'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DEV_SKIP_BUILD: '1', LOG_LEVEL: 'warn', WORKSPACE_DIR: workspaces, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

describeWithRedis('scripts/dev', () => {
  let redis: PrivateRedis;
  const started: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await redis.stop();
    rmSync(workspaces, { recursive: true, force: true });
  });

  it('starts WORKERS=2, says which Redis and prefix it uses, is ready on its own /readyz, and stops everything on SIGTERM', async () => {
    const apiPort = await freePort();
    const metricsBase = await freePort();
    const dev = runDev({ REDIS_URL: redis.url, KEY_PREFIX: 'aytest:dev:', API_PORT: String(apiPort), WORKER_METRICS_PORT: String(metricsBase), WORKERS: '2' });
    started.push(dev.child);
    await waitFor(() => dev.output().includes('Agentyard is running') || dev.child.exitCode !== null, { label: 'scripts/dev to say it is running', timeoutMs: 30_000 });
    const out = dev.output();
    expect(out).toContain(`Redis: found already running at ${redis.url} (not started by this script`);
    expect(out).toContain('Key prefix: aytest:dev:');
    expect(out).toContain(`worker 1: metrics http://127.0.0.1:${metricsBase}/metrics`);
    expect(out).toContain(`worker 2: metrics http://127.0.0.1:${metricsBase + 1}/metrics`);
    expect((await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsBase + 1}/readyz`)).status).toBe(200);

    dev.child.kill('SIGTERM');
    await dev.exited;
    // Its API and workers are gone with it; the Redis it found is left running.
    await expect(fetch(`http://127.0.0.1:${apiPort}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${metricsBase}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${metricsBase + 1}/healthz`)).rejects.toThrow();
  }, 40_000);

  it('refuses an API_PORT someone else listens on instead of calling their listener ready', async () => {
    // The probe may reset its connection; an unheard socket error would fail the whole suite.
    const other: Server = createServer((s) => {
      s.on('error', () => undefined);
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as { port: number }).port;
    try {
      const dev = runDev({ REDIS_URL: redis.url, KEY_PREFIX: 'aytest:dev:', API_PORT: String(port), WORKER_METRICS_PORT: '0' });
      started.push(dev.child);
      expect(await dev.exited).toBe(1);
      expect(dev.output()).toContain(`API_PORT ${port} is already taken by another process`);
      expect(dev.output()).not.toContain('Agentyard is running');
    } finally {
      await new Promise((r) => other.close(r));
    }
  });
});
