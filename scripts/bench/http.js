/**
 * create+start over HTTP: the API as its own process (node apps/api/dist/main.js, logging at
 * info as in production) loaded by autocannon in another process, against bare Express +
 * queue.add (bare-api.js) loaded the same way. No worker runs: jobs pile up in both queues.
 * Also the API's CPU milliseconds per request (/proc/<pid>/stat over the measured window).
 */
const { spawn } = require('node:child_process');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { requireFrom, apiEntry } = require('./support');
const { cpuMs, stealMeter } = require('./probes');
const { benchEnv, apiNodeOptions, TOKEN } = require('./api-stack');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const BODY = JSON.stringify({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'hi' } }] });

/** `script` is a path, or node flags and then the path (apiEntry()). */
function spawnProc(script, env, stdio = ['ignore', 'ignore', 'inherit', 'ipc']) {
  return spawn(process.execPath, [].concat(script), { env: { PATH: process.env.PATH, ...env }, stdio });
}
const exited = (child) => (child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)));

async function waitHttp(url, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** autocannon in its own process; resolves with its JSON result. */
function autocannon(url, { connections, seconds }) {
  return new Promise((resolve, reject) => {
    const bin = require.resolve('autocannon/autocannon.js', { paths: [root] });
    const args = [bin, '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', `Authorization=Bearer ${TOKEN}`,
      '-H', 'Content-Type=application/json', '-b', BODY, '--json', url];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`autocannon printed no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

async function load(pid, url, o) {
  await autocannon(url, { connections: o.connections, seconds: 1 }); // warm-up
  const cpu0 = cpuMs(pid);
  const steal = stealMeter();
  const r = await autocannon(url, o);
  const total = r.requests.total;
  const bad = r.non2xx + r.errors + r.timeouts;
  return {
    req_per_s: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    requests: total,
    failed: bad,
    cpu_ms_per_request: Math.round(((cpuMs(pid) - cpu0) / Math.max(1, total)) * 1000) / 1000,
    steal_pct: steal.end(),
  };
}

async function createStartFigures({ url, connections, seconds, freePort, cleanup }) {
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const { Queue } = requireFrom(apiDir, 'bullmq');
  const Redis = requireFrom(apiDir, 'ioredis');
  const out = {};
  {
    const port = await freePort();
    const api = spawnProc(apiEntry(), { ...benchEnv(url, prefix, `ay-http-${tag}`), API_PORT: String(port), LOG_LEVEL: 'info', WORKSPACE_DIR: `/tmp/ay-bench-http-${tag}`, ...apiNodeOptions() });
    try {
      await waitHttp(`http://127.0.0.1:${port}/healthz`);
      out.agentyard = await load(api.pid, `http://127.0.0.1:${port}/agent/execute`, { connections, seconds });
    } finally {
      api.kill('SIGTERM');
      await exited(api);
    }
  }
  {
    const port = await freePort();
    const bare = spawnProc(join(__dirname, 'bare-api.js'), { REDIS_URL: url, QUEUE_NAME: `ay-http-bare-${tag}`, PORT: String(port), CHANNEL: `bench-${tag}`, TOKEN });
    try {
      await waitHttp(`http://127.0.0.1:${port}/`);
      out.bare = await load(bare.pid, `http://127.0.0.1:${port}/agent/execute`, { connections, seconds });
    } finally {
      bare.kill('SIGTERM');
      await exited(bare);
    }
  }
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  for (const name of [`ay-http-${tag}`, `ay-http-bare-${tag}`]) {
    const q = new Queue(name, { connection: conn });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  conn.disconnect();
  await cleanup(prefix);
  require('node:fs').rmSync(`/tmp/ay-bench-http-${tag}`, { recursive: true, force: true });
  return out;
}

module.exports = { createStartFigures, spawnProc, exited, waitHttp };
