/**
 * The parts a drill runs on, all on loopback and in one temporary directory: Redis (AOF on,
 * appendfsync always), or a primary, a replica and three sentinels; s3rver; the API and
 * worker processes from the build.
 *
 * Why always: the drill's kill -9 of Redis stands for losing its node. A killed process alone
 * loses nothing under everysec either (Redis write()s the AOF before it replies, so the kernel
 * holds it), but a host that dies takes up to a second of fsync-pending writes with it, and
 * those were acknowledged: runs created, steps checkpointed. always fsyncs before replying, so
 * nothing acknowledged can vanish, which is the promise the drill checks.
 */
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { start, freePort, waitFor } = require('./procs');
const { requireFrom, apiEntry } = require('../bench/support');

const root = join(__dirname, '..', '..');
const Redis = requireFrom(join(root, 'apps', 'api'), 'ioredis');

async function ping(port, timeoutMs = 15_000) {
  await waitFor(
    async () => {
      const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    },
    { timeoutMs, label: `redis on port ${port}` },
  );
}

/** One redis-server with AOF in `dir`; `restart()` brings it back on the same port and data. */
async function redisNode(tmp, name, { port, replicaOf } = {}) {
  port ??= await freePort();
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no'];
  const node = { port, url: `redis://127.0.0.1:${port}`, proc: null };
  node.restart = async () => {
    // Only the first start follows --replicaof: sentinels reconfigure a returning node themselves.
    const first = node.proc === null && replicaOf;
    node.proc = start(`redis-${name}`, 'redis-server', first ? [...args, '--replicaof', '127.0.0.1', String(replicaOf)] : args, { logFile: join(tmp, `${name}.log`) });
    await ping(port);
  };
  await node.restart();
  return node;
}

/** Primary, replica and three sentinels from Debian's redis-sentinel, quorum 2. */
async function sentinelSet(tmp, masterName) {
  const primary = await redisNode(tmp, 'primary');
  const replica = await redisNode(tmp, 'replica', { replicaOf: primary.port });
  const sentinels = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(tmp, `sentinel-${i}.conf`);
    // Sentinels rewrite their file on every change of topology, so each needs its own, writable.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${tmp}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 2000`,
        `sentinel failover-timeout ${masterName} 10000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push({ port, proc: start(`sentinel-${i}`, 'redis-sentinel', [conf], { logFile: join(tmp, `sentinel-${i}.log`) }) });
  }
  for (const s of sentinels) await ping(s.port);
  await waitFor(async () => (await replicaLinkUp(replica.port)), { label: 'the replica to sync with the primary' });
  return { primary, replica, sentinels, masterName };
}

async function replicaLinkUp(port) {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    return /master_link_status:up/.test(await r.info('replication'));
  } finally {
    r.disconnect();
  }
}

/** The primary's port as the sentinels' majority names it. */
async function masterPort(sentinels, masterName) {
  const ports = await Promise.all(
    sentinels.map(async (s) => {
      const r = new Redis({ port: s.port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        const [, port] = await r.call('SENTINEL', 'get-master-addr-by-name', masterName);
        return Number(port);
      } catch {
        return 0;
      } finally {
        r.disconnect();
      }
    }),
  );
  const counts = new Map();
  for (const p of ports) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].find(([p, n]) => p && n >= 2)?.[0] ?? 0;
}

async function s3(tmp) {
  const port = await freePort();
  const dir = join(tmp, 's3');
  mkdirSync(dir, { recursive: true });
  const node = { endpoint: `http://127.0.0.1:${port}`, bucket: 'agentyard-chaos', proc: null };
  node.restart = async () => {
    node.proc = start('s3rver', process.execPath, [join(__dirname, 's3rver-child.js'), String(port), dir, node.bucket], { logFile: join(tmp, 's3rver.log') });
    await waitFor(() => fetch(`${node.endpoint}/${node.bucket}`).then((r) => r.status < 500, () => false), { label: 's3rver to answer' });
  };
  await node.restart();
  return node;
}

function appEnv({ redisEnv, s3node, prefix, queue, token, extra }) {
  return {
    PATH: process.env.PATH,
    ...redisEnv,
    KEY_PREFIX: prefix,
    QUEUE_NAME: queue,
    WORKSPACE_DRIVER: 's3',
    S3_ENDPOINT: s3node.endpoint,
    S3_BUCKET: s3node.bucket,
    S3_ACCESS_KEY: 'S3RVER',
    S3_SECRET_KEY: 'S3RVER',
    S3_FORCE_PATH_STYLE: 'true',
    API_KEYS: `chaos:${token}`,
    RATE_LIMIT_PER_MIN: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function api(tmp, env) {
  const port = await freePort();
  const proc = start('api', process.execPath, apiEntry(), { env: { ...env, API_PORT: String(port), API_DRAIN_S: '1' }, logFile: join(tmp, 'api.log') });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => fetch(`${url}/readyz`).then((r) => r.ok, () => false), { timeoutMs: 30_000, label: 'the API to be ready (see api.log)' });
  return { url, proc };
}

function worker(tmp, env, i) {
  return start(`worker-${i}`, process.execPath, [join(root, 'apps', 'worker', 'dist', 'main.js')], {
    env: { ...env, WORKER_METRICS_PORT: '0' },
    logFile: join(tmp, `worker-${i}.log`),
  });
}

module.exports = { redisNode, sentinelSet, masterPort, s3, appEnv, api, worker, Redis };
