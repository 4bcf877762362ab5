/**
 * SSE fan-out: N clients (sse-clients.js, its own process) following one run on one API
 * process, while this process appends `log` events to the run as a worker does (the event
 * log's append script); against bare-api.js, whose one ioredis subscriber fans a channel out
 * to N bare Express SSE responses, fed the same messages by PUBLISH. Figures: publish ->
 * receive p50/p99, events lost, time to connect all, the server's RSS per connected client
 * ((RSS once all are connected and settled - RSS before the first of them, after one warm-up
 * stream) / N) and its CPU over the publishing.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { requireFrom, apiEntry } = require('./support');
const { cpuMs, stealMeter } = require('./probes');
const { benchEnv, apiNodeOptions, TOKEN } = require('./api-stack');
const { spawnProc, exited, waitHttp } = require('./http');

const apiDir = join(__dirname, '..', '..', 'apps', 'api');
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const message = (child, key) => new Promise((resolve) => child.on('message', (m) => m[key] !== undefined && resolve(m)));

/**
 * One stream opened and closed before the baseline RSS: what a server builds once, on its first
 * stream (modules and code loaded lazily, caches, the run's channel subscription), is not a cost
 * per client. Both servers get it.
 */
async function warmUp(url) {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: ctl.signal });
  if (res.status !== 200) throw new Error(`warm-up stream answered ${res.status}`);
  await res.body.getReader().read();
  ctl.abort();
  await new Promise((r) => setTimeout(r, 300));
}

async function follow(serverPid, url, { clients, events, intervalMs, publish }) {
  await warmUp(url);
  const rss0 = rssKb(serverPid);
  const load = spawnProc(join(__dirname, 'sse-clients.js'), { URL: url, N: String(clients), TOKEN, ...(process.env.BENCH_DEBUG ? { BENCH_DEBUG: '1' } : {}) });
  try {
    const { connect_ms } = await Promise.race([
      message(load, 'connected'),
      exited(load).then(() => Promise.reject(new Error(`the SSE clients exited (${load.exitCode}) before all ${clients} connected`))),
    ]);
    await new Promise((r) => setTimeout(r, 500)); // let the server settle what connecting cost
    const rss1 = rssKb(serverPid);
    const cpu0 = cpuMs(serverPid);
    const steal = stealMeter();
    let peak = rss1;
    for (let k = 0; k < events; k++) {
      await publish(k);
      await new Promise((r) => setTimeout(r, intervalMs));
      if (k % 10 === 0) peak = Math.max(peak, rssKb(serverPid));
    }
    const report = message(load, 'lost');
    load.send({ report: events });
    const r = await report;
    return {
      clients, events, connect_all_ms: connect_ms, ...r,
      rss_mb: round(Math.max(peak, rssKb(serverPid)) / 1024), rss_kb_per_client: round((rss1 - rss0) / clients),
      cpu_ms_publishing: cpuMs(serverPid) - cpu0, steal_pct: steal.end(),
    };
  } finally {
    load.kill('SIGTERM');
    await exited(load);
  }
}

async function fanoutFigures({ url, clients, events, intervalMs, freePort, cleanup }) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const { createEventLog } = requireFrom(apiDir, '@agentyard/events');
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const redis = new Redis(url);
  const out = {};
  const sent = () => process.hrtime.bigint().toString();
  {
    const port = await freePort();
    const api = spawnProc(apiEntry(), { ...benchEnv(url, prefix, `ay-fan-${tag}`), API_PORT: String(port), LOG_LEVEL: 'info', WORKSPACE_DIR: `/tmp/ay-bench-fan-${tag}`, ...apiNodeOptions() });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitHttp(`${base}/healthz`);
      const created = await fetch(`${base}/agent/execute`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ action: 'create', steps: [{ tool: 'log', args: { message: 'hi' } }] }),
      }).then((r) => r.json());
      const log = createEventLog({ redis, prefix });
      out.agentyard = await follow(api.pid, `${base}/agent/logs/${created.run_id}/stream`, {
        clients, events, intervalMs,
        publish: (k) => log.append(created.run_id, 'log', { level: 'info', message: `event ${k}`, k, sent: sent() }),
      });
    } finally {
      api.kill('SIGTERM');
      await exited(api);
    }
  }
  {
    const port = await freePort();
    const channel = `bench-fan-${tag}`;
    const bare = spawnProc(join(__dirname, 'bare-api.js'), { REDIS_URL: url, QUEUE_NAME: `ay-fan-bare-${tag}`, PORT: String(port), CHANNEL: channel, TOKEN });
    try {
      await waitHttp(`http://127.0.0.1:${port}/`);
      let seq = 0;
      out.bare = await follow(bare.pid, `http://127.0.0.1:${port}/sse`, {
        clients, events, intervalMs,
        publish: (k) => {
          seq += 1;
          const data = JSON.stringify({ level: 'info', message: `event ${k}`, k, sent: sent() });
          return redis.publish(channel, JSON.stringify({ id: `${Date.now()}-${seq}`, seq, ts: new Date().toISOString(), type: 'log', data }));
        },
      });
    } finally {
      bare.kill('SIGTERM');
      await exited(bare);
    }
  }
  redis.disconnect();
  await cleanup(prefix);
  require('node:fs').rmSync(`/tmp/ay-bench-fan-${tag}`, { recursive: true, force: true });
  return out;
}

const round = (x) => Math.round(x * 10) / 10;
module.exports = { fanoutFigures };
