/**
 * SSE fan-out: N clients (sse-clients.js, its own process) following one run on one API
 * process, while this process appends `log` events to the run as a worker does (the event
 * log's append script); against bare-api.js, whose one ioredis subscriber fans a channel out
 * to N bare Express SSE responses, fed the same messages by PUBLISH. Figures: publish ->
 * receive p50/p99, events lost, time to connect all, the server's RSS per connected client
 * ((RSS once all are connected and settled - RSS before the first of them, after one warm-up
 * stream) / N) and its CPU over the publishing.
 *
 * RSS per client is read after a full garbage collection in the server, asked for through
 * its inspector (both servers run with `--inspect` on a loopback port): without it the figure
 * measured when V8 last collected, not what a client holds (the same build read 0.9-1.9 x the
 * bare server's from run to run, its total RSS 150-228 MB). The figure read without the
 * collection is reported beside it (`rss_kb_per_client_no_gc`).
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
/**
 * A full GC in the node process whose inspector listens on `port` (HeapProfiler.collectGarbage
 * over the DevTools protocol, twice: what the first frees can let a second free more); resolves
 * with the JS heap's used bytes after it (Runtime.getHeapUsage), which tells the heap's share
 * of RSS from the rest (sockets, buffers, native state).
 */
async function collectGarbage(port) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector on ${port} refused the session`));
  });
  try {
    const call = (id, method) => {
      const answered = new Promise((resolve) => {
        ws.onmessage = (m) => {
          const msg = JSON.parse(m.data);
          if (msg.id === id) resolve(msg.result);
        };
      });
      ws.send(JSON.stringify({ id, method }));
      return answered;
    };
    await call(1, 'HeapProfiler.collectGarbage');
    await call(2, 'HeapProfiler.collectGarbage');
    return (await call(3, 'Runtime.getHeapUsage')).usedSize;
  } finally {
    ws.close();
  }
}
const inspectOn = (port, nodeOptions = '') => ({ NODE_OPTIONS: `${nodeOptions} --inspect=127.0.0.1:${port}`.trim() });

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

async function follow(serverPid, url, { clients, events, intervalMs, publish, inspectPort }) {
  await warmUp(url);
  const rss0Raw = rssKb(serverPid);
  const heap0 = await collectGarbage(inspectPort);
  const rss0 = rssKb(serverPid);
  const load = spawnProc(join(__dirname, 'sse-clients.js'), { URL: url, N: String(clients), TOKEN, ...(process.env.BENCH_DEBUG ? { BENCH_DEBUG: '1' } : {}) });
  try {
    const { connect_ms } = await Promise.race([
      message(load, 'connected'),
      exited(load).then(() => Promise.reject(new Error(`the SSE clients exited (${load.exitCode}) before all ${clients} connected`))),
    ]);
    await new Promise((r) => setTimeout(r, 500)); // let the server settle what connecting cost
    const rss1Raw = rssKb(serverPid);
    const heap1 = await collectGarbage(inspectPort);
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
      rss_kb_per_client_no_gc: round((rss1Raw - rss0Raw) / clients),
      heap_kb_per_client: round((heap1 - heap0) / 1024 / clients),
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
    const inspectPort = await freePort();
    const api = spawnProc(apiEntry(), {
      ...benchEnv(url, prefix, `ay-fan-${tag}`), API_PORT: String(port), LOG_LEVEL: 'info', WORKSPACE_DIR: `/tmp/ay-bench-fan-${tag}`,
      ...inspectOn(inspectPort, apiNodeOptions().NODE_OPTIONS),
    });
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
        clients, events, intervalMs, inspectPort,
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
    const inspectPort = await freePort();
    const bare = spawnProc(join(__dirname, 'bare-api.js'), { REDIS_URL: url, QUEUE_NAME: `ay-fan-bare-${tag}`, PORT: String(port), CHANNEL: channel, TOKEN, ...inspectOn(inspectPort) });
    try {
      await waitHttp(`http://127.0.0.1:${port}/`);
      let seq = 0;
      out.bare = await follow(bare.pid, `http://127.0.0.1:${port}/sse`, {
        clients, events, intervalMs, inspectPort,
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
