#!/usr/bin/env node
/**
 * Agentyard benchmark (not a test): prints JSON with figures and ratios measured on one
 * Redis in one run. Needs a build (pnpm build). Usage:
 *   node scripts/bench/index.js [--runs 400] [--requests 1000] [--latency-samples 100] [--concurrency 8]
 *     [--retention-runs 500] [--retention-s 5] [--reconcile-s 0.5]
 *     [--soak] [--soak-runs 20000] [--soak-retention-s 2] [--soak-contrast-runs 5000]
 *     [--only a,b,c,d,e]
 * Uses a private redis-server on a free port when one is installed, else REDIS_URL, under a
 * unique key prefix and queue names that it removes afterwards; d and e start their own
 * private redis-server each (their used_memory must be theirs alone).
 *
 *  a. runs/s through API create+start -> worker process -> terminal event, vs raw BullMQ
 *     add + a no-op worker process with the same count and concurrency;
 *  b. create+start requests/s vs a bare Express handler doing one queue.add;
 *  c. p50/p99 from start to the first event on an already-open SSE stream;
 *  d. Redis bytes and keys per finished two-step run, before and after RUN_RETENTION_S;
 *  e. (opt-in: --soak or BENCH_SOAK=1, a few minutes) used_memory over a soak of
 *     --soak-runs runs with a short retention, and with RUN_RETENTION_S=0 for contrast.
 *  f. executor overhead: start-to-exit of `true` through the local sandbox (bubblewrap and
 *     unsandboxed) and through the Kubernetes executor on the tests' API stand-in, p50/p99,
 *     against a bare spawn (scripts/bench/executor.js).
 */
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { startRedis, stopRedis, requireFrom, pool, percentile, collectEnds, spawnNode, stopChild } = require('./support');
const { retentionFigures, soak } = require('./retention');
const { executorOverhead } = require('./executor');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const workerDir = join(root, 'apps', 'worker');
const { Queue, QueueEvents } = requireFrom(apiDir, 'bullmq');
const express = requireFrom(apiDir, 'express');
const Redis = requireFrom(apiDir, 'ioredis');
const { buildApp } = require(join(apiDir, 'dist', 'app.js'));
const { createApiDeps } = require(join(apiDir, 'dist', 'compose.js'));
const { createLogger } = requireFrom(apiDir, '@agentyard/observability');
const { createWorkspace } = requireFrom(apiDir, '@agentyard/workspace');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const RUNS = arg('runs', 400);
const REQUESTS = arg('requests', 1000);
const SAMPLES = arg('latency-samples', 100);
const CONCURRENCY = arg('concurrency', 8);
const IN_FLIGHT = 32;
const RETENTION_RUNS = arg('retention-runs', 500);
const RETENTION_S = arg('retention-s', 5);
const RECONCILE_S = arg('reconcile-s', 0.5);
const SOAK = process.argv.includes('--soak') || process.env.BENCH_SOAK === '1';
const SOAK_RUNS = arg('soak-runs', 20000);
const SOAK_RETENTION_S = arg('soak-retention-s', 2);
const SOAK_CONTRAST_RUNS = arg('soak-contrast-runs', 5000);
const onlyAt = process.argv.indexOf('--only');
const sections = onlyAt > 0 ? process.argv[onlyAt + 1].split(',') : ['a', 'b', 'c', 'd', ...(SOAK ? ['e'] : []), 'f'];
const want = (s) => sections.includes(s);

async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

async function main() {
  const redisInfo = await startRedis();
  const url = redisInfo.url;
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const token = 'tok_bench_12345';
  const config = {
    REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: `ay-bench-${tag}`, API_KEYS: [{ tenant: 'bench', token, admin: true }],
    EVENTS_MAX_LEN: 10000, RETRY_BACKOFF_MS: 1000, API_BODY_LIMIT: '4mb', SSE_HEARTBEAT_S: 15,
    // On, as in production, but high enough that the bench itself is never refused.
    RATE_LIMIT_PER_MIN: 1_000_000,
    WORKER_CONCURRENCY: CONCURRENCY, WORKER_LOCK_MS: 8000, WORKER_STALLED_INTERVAL_MS: 5000, WORKER_MAX_STALLED: 2,
  };
  const logger = createLogger({ level: 'silent', name: 'bench' });
  const tmpDirs = [mkdtempSync(join(tmpdir(), 'ay-bench-')), mkdtempSync(join(tmpdir(), 'ay-bench-w-'))];
  // One tenant, as a single-tenant deployment configures it: the whole fleet is its share
  // (max_fleet_share 1); max_concurrent_runs keeps its default, so the slot leases are measured.
  const tenantsFile = join(tmpDirs[1], 'tenants.yaml');
  writeFileSync(tenantsFile, 'defaults: { max_fleet_share: 1 }\n');
  const workspace = createWorkspace({ driver: 'fs', dir: tmpDirs[0] });
  const deps = await createApiDeps(config, { logger, workspace, version: 'bench' });
  const api = await listen(buildApp(deps));
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const post = (body) => fetch(`${api.url}/agent/execute`, { method: 'POST', headers, body: JSON.stringify(body) }).then(async (r) => {
    const j = await r.json();
    if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(j)}`);
    return j;
  });
  const oneStep = { action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'hi' } }] };
  const result = { redis: redisInfo.own ? 'private redis-server' : url, worker_concurrency: CONCURRENCY, http_in_flight: IN_FLIGHT };

  // (b) create+start requests/s, no worker running (jobs pile up), vs a bare handler.
  if (want('b')) {
    await pool(50, IN_FLIGHT, () => post(oneStep)); // warm-up
    const t0 = performance.now();
    await pool(REQUESTS, IN_FLIGHT, () => post(oneStep));
    const agentyard = REQUESTS / ((performance.now() - t0) / 1000);

    const conn = new Redis(url, { maxRetriesPerRequest: 1 });
    const q = new Queue(`ay-bench-bare-${tag}`, { connection: conn });
    const bare = express();
    bare.use(express.json());
    bare.post('/x', async (req, res) => {
      await q.add('run', req.body);
      res.status(202).json({ ok: true });
    });
    const b = await listen(bare);
    const postBare = () => fetch(`${b.url}/x`, { method: 'POST', headers, body: JSON.stringify(oneStep) }).then((r) => r.json());
    await pool(50, IN_FLIGHT, postBare);
    const t1 = performance.now();
    await pool(REQUESTS, IN_FLIGHT, postBare);
    const bareRate = REQUESTS / ((performance.now() - t1) / 1000);
    b.server.close();
    await q.obliterate({ force: true });
    await q.close();
    conn.disconnect();
    await deps.queue.queue.obliterate({ force: true });
    result.b_create_start = {
      requests: REQUESTS,
      agentyard_req_per_s: round(agentyard),
      bare_express_queue_add_req_per_s: round(bareRate),
      ratio: round(agentyard / bareRate, 3),
    };
  }

  // (a) end-to-end single-step runs/s vs raw BullMQ add + no-op processor. Both workers
  // run as their own process, as in production; the API and the bench client share this one.
  if (want('a')) {
    const worker = spawnNode(join(workerDir, 'dist', 'main.js'), {
      REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: config.QUEUE_NAME, WORKER_CONCURRENCY: String(CONCURRENCY),
      WORKSPACE_DIR: tmpDirs[1], WORKER_METRICS_PORT: '0', LOG_LEVEL: 'silent', TENANTS_FILE: tenantsFile,
    });
    const ends = await collectEnds(Redis, url, prefix);
    await pool(20, IN_FLIGHT, () => post(oneStep));
    await ends.waitFor(20);
    ends.reset();
    const t0 = performance.now();
    await pool(RUNS, IN_FLIGHT, () => post(oneStep));
    await ends.waitFor(RUNS);
    const agentyard = RUNS / ((performance.now() - t0) / 1000);
    await stopChild(worker);
    await ends.close();

    const qName = `ay-bench-raw-${tag}`;
    const conn = new Redis(url, { maxRetriesPerRequest: null });
    const q = new Queue(qName, { connection: conn });
    const events = new QueueEvents(qName, { connection: new Redis(url, { maxRetriesPerRequest: null }) });
    await events.waitUntilReady();
    let done = 0;
    let resolveDone;
    const allDone = new Promise((r) => (resolveDone = r));
    events.on('completed', () => {
      done += 1;
      if (done === RUNS) resolveDone();
    });
    const raw = spawnNode(join(__dirname, 'raw-worker.js'), { REDIS_URL: url, QUEUE_NAME: qName, CONCURRENCY: String(CONCURRENCY) });
    const t1 = performance.now();
    await pool(RUNS, IN_FLIGHT, () => q.add('run', { runId: 'x' }, { removeOnComplete: true }));
    await allDone;
    const rawRate = RUNS / ((performance.now() - t1) / 1000);
    await stopChild(raw);
    await events.close();
    await q.obliterate({ force: true });
    await q.close();
    conn.disconnect();
    result.a_end_to_end = {
      runs: RUNS,
      agentyard_runs_per_s: round(agentyard),
      raw_bullmq_jobs_per_s: round(rawRate),
      ratio: round(agentyard / rawRate, 3),
    };
  }

  // (c) start -> first live SSE event latency.
  if (want('c')) {
    const samples = [];
    for (let i = 0; i < SAMPLES; i++) {
      const created = await post({ ...oneStep, start: false });
      const ctl = new AbortController();
      const res = await fetch(`${api.url}/agent/logs/${created.run_id}/stream`, { headers, signal: ctl.signal });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      const nextEvent = async () => {
        for (;;) {
          const i2 = buf.indexOf('\n\n');
          if (i2 >= 0) {
            const block = buf.slice(0, i2);
            buf = buf.slice(i2 + 2);
            if (block.includes('\ndata: ') || block.startsWith('id: ')) return block;
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('stream closed');
          buf += decoder.decode(value, { stream: true });
        }
      };
      await nextEvent(); // the replayed `created` event: the stream is now live
      const t0 = performance.now();
      await post({ action: 'start', run_id: created.run_id });
      await nextEvent();
      samples.push(performance.now() - t0);
      ctl.abort();
    }
    samples.sort((x, y) => x - y);
    result.c_start_to_first_sse_event_ms = { samples: SAMPLES, p50: round(percentile(samples, 50), 2), p99: round(percentile(samples, 99), 2) };
  }

  // (d, e) each on a stack of its own; run before this one is torn down, whose leftover
  // BullMQ connections would otherwise retry against a stopped Redis meanwhile.
  const figures = { concurrency: CONCURRENCY, reconcileS: RECONCILE_S };
  if (want('d')) result.d_retention = await retentionFigures({ ...figures, runs: RETENTION_RUNS, retentionS: RETENTION_S });
  if (want('e')) {
    result.e_soak = await soak({ ...figures, runs: SOAK_RUNS, retentionS: SOAK_RETENTION_S });
    const keep = await soak({ ...figures, runs: SOAK_CONTRAST_RUNS, retentionS: 0 });
    // Nothing expires: every run keeps what it wrote, so growth is linear in runs.
    const perRun = (keep.final.used_memory - keep.used_memory_start) / keep.runs;
    result.e_soak_contrast_keep_forever = {
      ...keep,
      kept_bytes_per_run: Math.round(perRun),
      extrapolated_used_memory_at_soak_runs: Math.round(keep.used_memory_start + perRun * SOAK_RUNS),
    };
  }

  if (want('f')) result.f_executor_overhead = await executorOverhead();

  api.server.closeAllConnections();
  api.server.close();
  await deps.queue.queue.obliterate({ force: true }).catch(() => undefined);
  await deps.close();
  await cleanupPrefix(Redis, url, prefix);
  await stopRedis(redisInfo);
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });

  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  // Anything still open (BullMQ's duplicated blocking connections) must not keep the
  // process alive or retry against the Redis we just stopped.
  process.exit(0);
}

async function cleanupPrefix(Redis, url, prefix) {
  const r = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
}

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack || err}\n`);
  process.exit(1);
});
