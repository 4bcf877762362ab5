import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Starts what the tests need and hands its address to every test file through the
 * environment: a private redis-server on a free port when one is installed (else the
 * REDIS_URL given, or the machine's 127.0.0.1:6379, shared safely through key prefixes),
 * and an s3rver on a free port with one bucket.
 */
export default async function globalSetup(): Promise<void> {
  const g = globalThis as unknown as { __redis?: ChildProcess; __s3rver?: { close(): Promise<void> }; __tmpDirs?: string[] };
  if (!process.env.TEST_REDIS_URL) {
    if (hasRedisServer()) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'ay-redis-'));
      (g.__tmpDirs ??= []).push(dir);
      g.__redis = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      );
      process.env.TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
      await waitForRedis(process.env.TEST_REDIS_URL);
    } else {
      process.env.TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
      await waitForRedis(process.env.TEST_REDIS_URL);
    }
  }
  if (!process.env.TEST_S3_ENDPOINT) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require('s3rver');
    const port = await freePort();
    const s3dir = mkdtempSync(join(tmpdir(), 'ay-s3rver-'));
    (g.__tmpDirs ??= []).push(s3dir);
    const server = new S3rver({
      port,
      address: '127.0.0.1',
      silent: true,
      directory: s3dir,
      configureBuckets: [{ name: 'agentyard-test' }],
    });
    await server.run();
    g.__s3rver = server;
    process.env.TEST_S3_ENDPOINT = `http://127.0.0.1:${port}`;
    process.env.TEST_S3_BUCKET = 'agentyard-test';
  }
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function waitForRedis(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await ping(url);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`redis at ${url} never answered PING: ${(e as Error).message}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/**
 * One PING over a plain socket. Not ioredis: a client whose connection is refused while the
 * server starts leaves its 10 s connect timer behind, which kept jest's own process alive past
 * the run ("Jest did not exit one second after the test run has completed").
 */
function ping(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 1 s')), 1000);
    let reply = '';
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (!reply.includes('\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      // A server that wants a password (a REDIS_URL with one) is up all the same.
      if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) resolve();
      else reject(new Error(`PING answered ${reply.trim()}`));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
