/**
 * start -> first SSE event: a client follows a created run's stream, then starts it; timed from
 * sending the start to the first event after it reaching the stream (`queued`, written by the
 * start itself; the POST's answer may come later) and to the first event of the worker
 * (`running`). The API and the worker run as processes of their own.
 * Against raw BullMQ: add -> a no-op worker process's processor starts (IPC report).
 */
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { requireFrom, percentile, benchTenantsFile, apiEntry } = require('./support');
const { spawnProc, exited, waitHttp } = require('./http');
const { benchEnv, TOKEN } = require('./api-stack');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');

function sseReader(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  return async function next() {
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const m = /^event: (.*)$/m.exec(block);
        const d = /^data: (.*)$/m.exec(block);
        if (m && d) return { event: m[1], data: JSON.parse(d[1]) };
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('stream closed');
      buf += decoder.decode(value, { stream: true });
    }
  };
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50_ms: r2(percentile(s, 50)), p99_ms: r2(percentile(s, 99)) };
};
const r2 = (x) => Math.round(x * 100) / 100;

async function latencyFigures({ url, samples, stack, freePort }) {
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const queueName = `ay-lat-${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'ay-bench-lat-'));
  const port = await freePort();
  const apiProc = spawnProc(apiEntry(), { ...benchEnv(url, prefix, queueName), API_PORT: String(port), LOG_LEVEL: 'info', WORKSPACE_DIR: dir });
  const base = `http://127.0.0.1:${port}`;
  const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
  const api = {
    base, headers,
    post: (body) => fetch(`${base}/agent/execute`, { method: 'POST', headers, body: JSON.stringify(body) }).then((r) => r.json()),
  };
  await waitHttp(`${base}/healthz`);
  const worker = spawnProc(join(root, 'apps', 'worker', 'dist', 'main.js'), {
    REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, WORKER_CONCURRENCY: '4', WORKSPACE_DIR: dir, WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info', TENANTS_FILE: benchTenantsFile(dir),
  });
  const oneStep = { action: 'create', steps: [{ tool: 'log', args: { message: 'hi' } }] };
  const queued = [];
  const running = [];
  const failedStarts = [];
  try {
    for (let i = 0; i < samples + 5; i++) {
      const created = await api.post(oneStep);
      const ctl = new AbortController();
      const res = await fetch(`${api.base}/agent/logs/${created.run_id}/stream`, { headers: api.headers, signal: ctl.signal });
      const next = sseReader(res);
      await next(); // the replayed `created` event: the stream is live now
      const t0 = performance.now();
      // The event is timed when it reaches the stream, not after the POST's own response
      // (the start's answer leaves after the queue add, which the event does not wait for).
      const started = api.post({ action: 'start', run_id: created.run_id });
      // A start refused or failed (a 4xx/5xx body) sends no event: the stream is given up on and
      // the failure counted, rather than waiting for an event that never comes.
      let refused;
      started.then(
        (answer) => {
          if (answer.status !== 'queued' && answer.status !== 'running' && answer.status !== 'succeeded') {
            refused = JSON.stringify(answer).slice(0, 300);
            ctl.abort();
          }
        },
        (err) => {
          refused = String(err?.message ?? err);
          ctl.abort();
        },
      );
      let q;
      try {
        for (;;) {
          const ev = await next();
          if (ev.event !== 'status') continue;
          if (ev.data.status === 'queued') q ??= performance.now() - t0;
          if (ev.data.status === 'running') {
            if (i >= 5) { queued.push(q); running.push(performance.now() - t0); } // 5 warm-ups
            break;
          }
        }
      } catch (err) {
        if (refused === undefined) throw err;
      }
      await started.catch(() => undefined);
      if (refused !== undefined) {
        failedStarts.push(refused);
        if (failedStarts.length > Math.max(3, samples / 10)) throw new Error(`${failedStarts.length} starts failed, the last: ${refused}`);
      }
      ctl.abort();
    }
  } finally {
    worker.kill('SIGTERM');
    apiProc.kill('SIGTERM');
    await Promise.all([exited(worker), exited(apiProc)]);
    rmSync(dir, { recursive: true, force: true });
  }

  const Redis = requireFrom(apiDir, 'ioredis');
  const { Queue } = requireFrom(apiDir, 'bullmq');
  const rawName = `ay-lat-raw-${tag}`;
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const q = new Queue(rawName, { connection: conn });
  const raw = spawnProc(join(__dirname, 'raw-worker.js'), { REDIS_URL: url, QUEUE_NAME: rawName, CONCURRENCY: '4' });
  const rawStarts = [];
  try {
    await new Promise((r) => raw.on('message', (m) => m.ready && r()));
    for (let i = 0; i < samples + 5; i++) {
      const started = new Promise((r) => raw.once('message', (m) => r(m.started_ms)));
      await q.add('run', { runId: `x${i}`, t0: process.hrtime.bigint().toString() }, { removeOnComplete: true, priority: 10 });
      const ms = await started;
      if (i >= 5) rawStarts.push(ms);
    }
  } finally {
    raw.kill('SIGTERM');
    await exited(raw);
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
    conn.disconnect();
  }
  await stack.cleanup(prefix);
  return {
    samples, failed_starts: failedStarts.length, ...(failedStarts.length ? { failed_start_answers: failedStarts.slice(0, 3) } : {}),
    start_to_queued_event: stats(queued), start_to_running_event: stats(running), raw_add_to_processor_start: stats(rawStarts),
  };
}

module.exports = { latencyFigures };
