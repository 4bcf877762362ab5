/** Helpers of the benchmark: a private Redis, bounded concurrency, percentiles. */
const { spawn, spawnSync } = require('node:child_process');
const { createServer } = require('node:net');
const { join } = require('node:path');

function requireFrom(dir, id) {
  return require(require.resolve(id, { paths: [dir] }));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return { url: process.env.REDIS_URL || 'redis://127.0.0.1:6379', own: false };
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const Redis = requireFrom(join(__dirname, '..', '..', 'apps', 'api'), 'ioredis');
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return { url, own: true, child };
    } catch {
      r.disconnect();
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(info) {
  if (info.child) info.child.kill('SIGKILL');
}

/** Runs `task` `total` times with at most `limit` in flight. */
async function pool(total, limit, task) {
  let started = 0;
  const lane = async () => {
    while (started < total) {
      started += 1;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, total) }, lane));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

/** Counts `end` events of every run under `prefix`, as a client would see them live. */
async function collectEnds(Redis, url, prefix) {
  const sub = new Redis(url);
  let count = 0;
  let waiters = [];
  await sub.psubscribe(`${prefix}live:*`);
  sub.on('pmessage', (_p, _c, msg) => {
    if (JSON.parse(msg).type !== 'end') return;
    count += 1;
    waiters = waiters.filter((w) => (count >= w.n ? (w.resolve(), false) : true));
  });
  return {
    count: () => count,
    reset: () => (count = 0),
    waitFor: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => sub.quit(),
  };
}

/** `script` is a path, or node flags and then the path (apiEntry()). */
function spawnNode(script, env) {
  return spawn(process.execPath, [].concat(script), { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * The API's entry point with the node flags it ships with (apps/api/package.json
 * `agentyard.nodeFlags`, the same ones the Dockerfile and scripts/dev pass), so the bench and
 * the drills measure the API as deployed. BENCH_API_NODE_FLAGS replaces them for an A/B
 * (`BENCH_API_NODE_FLAGS= ` runs the API with V8's defaults).
 */
function apiEntry() {
  const apiDir = join(__dirname, '..', '..', 'apps', 'api');
  const override = process.env.BENCH_API_NODE_FLAGS;
  const flags = override !== undefined ? override.split(/\s+/).filter(Boolean) : require(join(apiDir, 'package.json')).agentyard.nodeFlags;
  return [...flags, join(apiDir, 'dist', 'main.js')];
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * The bench's one tenant as a single-tenant deployment configures it: the whole fleet is its
 * share and its concurrency cap is above any --concurrency, so the figures measure the engine
 * (slot leases included: the cap is finite) rather than the fair-share defaults. Returns the
 * TENANTS_FILE path, written into `dir`.
 */
function benchTenantsFile(dir = require('node:os').tmpdir(), extra = {}) {
  const path = require('node:path').join(dir, 'bench-tenants.yaml');
  // max_sse_streams: the fan-out section connects 1,000 clients of the one tenant.
  const defaults = { max_fleet_share: 1, max_concurrent_runs: 10000, max_sse_streams: 100000, ...extra };
  require('node:fs').writeFileSync(path, `defaults: ${JSON.stringify(defaults)}\n`);
  return path;
}

module.exports = {
  apiEntry, freePort, requireFrom, startRedis, stopRedis, pool, percentile, collectEnds, spawnNode, stopChild, benchTenantsFile };
