import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './global-setup';
import { waitFor } from './wait-for';

export const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * A redis-server of one test's own on a free port, so the test may kill it (refused
 * connections) or SIGSTOP it (a Redis that accepts nothing new and answers nothing) without
 * touching the Redis every other test file shares.
 */
export interface PrivateRedis {
  url: string;
  /** SIGKILL: connections are refused from now on. */
  kill(): Promise<void>;
  /** SIGSTOP: sockets stay open, nothing answers. */
  freeze(): void;
  /** Back to answering: SIGCONT after freeze, or a fresh server on the same port after kill. */
  revive(): Promise<void>;
  stop(): Promise<void>;
}

/** `password`: the server requires it (`requirepass`), and `url` carries it. */
export async function startPrivateRedis(opts: { password?: string } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ay-private-redis-'));
  const url = `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}`;
  let server: ChildProcess | undefined;
  let frozen = false;
  const answers = async () => {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };
  const start = async () => {
    const auth = opts.password ? ['--requirepass', opts.password] : [];
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...auth], { stdio: 'ignore' });
    await waitFor(answers, { label: `redis-server on ${port} to answer`, timeoutMs: 10_000 });
  };
  const kill = async () => {
    const s = server;
    if (!s || s.exitCode !== null || s.signalCode !== null) return;
    const gone = new Promise((r) => s.once('exit', r));
    if (frozen) s.kill('SIGCONT');
    frozen = false;
    s.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    url,
    kill,
    freeze() {
      frozen = true;
      server!.kill('SIGSTOP');
    },
    async revive() {
      if (frozen) {
        frozen = false;
        server!.kill('SIGCONT');
        await waitFor(answers, { label: 'the frozen redis-server to answer again', timeoutMs: 10_000 });
        return;
      }
      await start();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
