#!/usr/bin/env node
/**
 * Soak (issue 11): a steady rate of runs for a fixed time (30 minutes by default) with a short
 * RUN_RETENTION_S, on a private stack: its own redis-server, the API and one worker, each its
 * own process from the build (so their RSS, handles and fds are theirs alone), sharing an fs
 * workspace. Every --sample-s (10 s on average; see sampleDelayMs) it samples:
 *
 *   api / worker  RSS (VmRSS of /proc/<pid>/status), open fds (/proc/<pid>/fd), V8 heap used and
 *                 its old generation (old and large-object spaces: what survived scavenges),
 *                 nodejs_active_handles and nodejs_active_resources (prom-client's default
 *                 metrics on their /metrics); the API's open SSE streams (agentyard_sse_clients)
 *   redis         used_memory and DBSIZE; the tenant's listing (run index, listing hash and its
 *                 forgotten runs: an entry per run past its retention, up to max_listed_runs,
 *                 README "Retention"; --listed-runs, 2,000 here, so the soak reaches that bound
 *                 within its warm-up) and its workspace files' ledger (a size per file the
 *                 tenant keeps in storage, bounded by max_workspace_files), and used_memory less
 *                 the ledger;
 *                 BullMQ's event stream length (capped by BullMQ at 10,000)
 *
 * and reports, per series, the least-squares slope per hour over the samples after a warm-up
 * (--warmup-s, default max(60 s, 3 x retention, 10 % of the soak, until BullMQ's event stream
 * reached its 10,000 cap): heaps, JIT, the first retention window and that stream filling up),
 * its standard error, first/last/min/max, and a verdict:
 *
 *   grows         slope > 10 % of the series' mean per hour (for counts: fds, handles,
 *                 resources, streams, keys, at least 5 per hour) AND slope > 3 standard errors
 *   stepped       grows by that rule over the whole window, but the second half of the window
 *                 rises at less than half that 10 %: the series rose and then held (V8 sizing a heap up once),
 *                 which a line through the whole window also calls growth; not failed on
 *   flat          otherwise, when 3 standard errors fit under that 10 % (the soak could have seen it)
 *   inconclusive  the soak was too short or too noisy to tell 10 %/h from noise
 *
 * Why 10 % of the level per hour: a leak under a steady load grows linearly without bound, so
 * at that rate the process doubles in 10 hours and is OOM-killed within a day or two at any
 * sensible memory limit, while GC sawtooth (RSS moves by several MB) and in-flight requests
 * (handles, fds) make smaller slopes indistinguishable from noise in 30 minutes on this host.
 * The significance test keeps a noisy short soak from calling noise growth.
 *
 * Every run must succeed (counted from their `end` events); the exit code is 1 when one did
 * not, or when a series grows, except the whole heap (REPORTED: its young generation swings and
 * V8 resizes it; the old generation's floor is judged instead) and the ledger, which mirrors files kept in storage (its bytes
 * per file are reported), and used_memory with it: used_memory less the ledger, the listing
 * included, must be flat.
 *
 *   node scripts/bench/soak.js [--soak-minutes 30] [--rate 10] [--retention-s 10] [--listed-runs 2000]
 *     [--reconcile-s 2] [--concurrency 16] [--sse-every 4] [--sample-s 10] [--warmup-s S]
 *     [--keep-forever] (RUN_RETENTION_S=0: the contrast, Redis must be seen to grow) [--out FILE]
 *   node scripts/bench/soak.js --rejudge FILE   (a saved --out judged again by these rules)
 */
const { mkdtempSync, rmSync, readFileSync, readdirSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { startRedis, stopRedis, requireFrom, spawnNode, stopChild, freePort, benchTenantsFile, apiEntry } = require('./support');
const { benchEnv } = require('./api-stack');
const { loadAvg } = require('./probes');
const { judge, round, GROWTH_PER_HOUR } = require('./slope');

const COUNT_FLOOR_PER_HOUR = 5;

/**
 * The wait before the next sample: uniform in 0.5-1.5 x --sample-s. A fixed 10 s is a multiple
 * of the reconciler's 2 s and of the 0.1 s between creates, so every sample saw the expiry
 * sawtooth (runs past their retention pile up between two reconciler passes: 0-20 runs here,
 * about 4 keys each) at one phase: a 8-minute soak read exactly 102 runs in retention in every
 * sample, and an hour's slow drift of that phase (the worker's timer against ours) read as
 * +28 runs and +109 keys per hour. Random phases turn the sawtooth into noise around its mean.
 */
function sampleDelayMs(sampleS, random = Math.random) {
  return sampleS * 1000 * (0.5 + random());
}
const BULL_EVENTS_CAP = 10_000;

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const TOKEN = 'tok_bench_12345';

const argAt = (name) => process.argv.indexOf(`--${name}`);
const num = (name, dflt) => (argAt(name) > 0 ? Number(process.argv[argAt(name) + 1]) : dflt);
const str = (name, dflt) => (argAt(name) > 0 ? process.argv[argAt(name) + 1] : dflt);

/** The plans, round-robin: log steps, a workspace write and read, and a short wait. */
const PLANS = [
  () => ({ steps: [
    { id: 'a', tool: 'log', args: { message: 'one' } },
    { id: 'b', tool: 'log', args: { message: 'two' }, needs: ['a'] },
  ] }),
  (tag) => ({ steps: [
    { id: 'w', tool: 'fs.write', args: { path: `soak/${tag}.txt`, content: tag } },
    { id: 'r', tool: 'fs.read', args: { path: `soak/${tag}.txt` }, needs: ['w'] },
  ] }),
  () => ({ steps: [
    { id: 'a', tool: 'log', args: { message: 'before' } },
    { id: 'w', tool: 'wait', args: { seconds: 1 }, needs: ['a'] },
    { id: 'b', tool: 'log', args: { message: 'after' }, needs: ['w'] },
  ] }),
];


function procFigures(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return {};
  }
}

/** A few gauges of a Prometheus text page (prom-client default metrics carry our prefix). */
async function scrape(url, names) {
  const out = {};
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
    for (const [key, metric] of Object.entries(names)) {
      // `metric` is a name, any labels allowed, or a name with its labels spelled out.
      const name = metric.replace(/[{}]/g, '\\$&');
      const m = new RegExp(`^${name}${metric.includes('{') ? '' : '(?:\\{[^}]*\\})?'} ([0-9.e+-]+)$`, 'm').exec(text);
      if (m) out[key] = Number(m[1]);
    }
    // The old generation (old and large-object spaces): what survived scavenges.
    if (out.heap_old_space !== undefined && out.heap_lo_space !== undefined) out.heap_old = out.heap_old_space + out.heap_lo_space;
    delete out.heap_old_space;
    delete out.heap_lo_space;
  } catch {
    // a missed scrape leaves the sample without these series
  }
  return out;
}
const NODE_GAUGES = {
  handles: 'agentyard_nodejs_active_handles_total',
  resources: 'agentyard_nodejs_active_resources_total',
  heap_used: 'agentyard_nodejs_heap_size_used_bytes',
  heap_old_space: 'agentyard_nodejs_heap_space_size_used_bytes{space="old"}',
  heap_lo_space: 'agentyard_nodejs_heap_space_size_used_bytes{space="large_object"}',
};

async function waitHttp(url, label, timeoutMs = 30_000) {
  const t0 = Date.now();
  for (;;) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a run's SSE stream until its `end` (or the deadline); resolves to whether it saw it. */
async function followToEnd(base, runId, deadlineMs = 60_000) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), deadlineMs);
  try {
    const r = await fetch(`${base}/agent/logs/${runId}/stream`, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    if (r.status !== 200) return false;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of r.body) {
      buf += decoder.decode(chunk, { stream: true });
      if (/^event: end$/m.test(buf)) return true;
      buf = buf.slice(-64);
    }
    return false;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

async function soak({ minutes, rate, retentionS, reconcileS, concurrency, sseEvery, sampleS, warmupS, listedRuns }) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const redisInfo = await startRedis();
  if (!redisInfo.own) throw new Error('the soak needs a private redis-server (used_memory must be ours alone)');
  const url = redisInfo.url;
  const tag = randomBytes(3).toString('hex');
  const prefix = `aysoak:${tag}:`;
  const queueName = `ay-soak-${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'ay-soak-'));
  const apiPort = await freePort();
  const workerPort = await freePort();
  const retention = { RUN_RETENTION_S: String(retentionS) };
  const api = spawnNode(apiEntry(), {
    ...benchEnv(url, prefix, queueName, retention), API_PORT: String(apiPort), WORKSPACE_DIR: dir, LOG_LEVEL: 'warn',
  });
  const worker = spawnNode(join(root, 'apps', 'worker', 'dist', 'main.js'), {
    REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, WORKER_CONCURRENCY: String(concurrency),
    WORKSPACE_DIR: dir, WORKER_METRICS_PORT: String(workerPort), LOG_LEVEL: 'warn',
    // The worker's reconciler applies max_listed_runs when it expires runs.
    TENANTS_FILE: benchTenantsFile(dir, { max_listed_runs: listedRuns }),
    ...retention, RECONCILE_S: String(reconcileS),
  });
  // Interrupted (Ctrl-C): nothing it started outlives it.
  const children = [api, worker, redisInfo.child];
  const onSignal = () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const base = `http://127.0.0.1:${apiPort}`;
  const redis = new Redis(url);
  const sub = new Redis(url);
  try {
    await waitHttp(`${base}/readyz`, 'the API');
    await waitHttp(`http://127.0.0.1:${workerPort}/metrics`, 'the worker');

    const created = new Set();
    const ended = { succeeded: 0 };
    await sub.psubscribe(`${prefix}live:*`);
    sub.on('pmessage', (_p, channel, msg) => {
      const e = JSON.parse(msg);
      if (e.type !== 'end') return;
      // The event's data is its payload as the Lua script wrote it: a JSON string.
      const data = typeof e.data === 'string' ? JSON.parse(e.data) : e.data;
      const status = data?.status ?? 'unknown';
      ended[status] = (ended[status] ?? 0) + 1;
    });
    const endedCount = () => Object.values(ended).reduce((a, b) => a + b, 0);
    const failures = [];
    const sse = { opened: 0, saw_end: 0, missed_end: 0 };
    const inflight = new Set();

    // What retention keeps of a run it forgot (README, "Retention"): its id in the tenant's run
    // index and its forgotten runs, and its listing record, for the newest max_listed_runs.
    const listingKeys = [`${prefix}tenant:bench:listing`, `${prefix}tenant:bench:runs`, `${prefix}tenant:bench:expired`];
    // And the size of every file the tenant's tools keep in its workspaces (its quota's ledger,
    // bounded by max_workspace_files): the fs.write runs' files stay, as a workspace's would.
    const filesKey = `${prefix}tenant:bench:ws-files`;
    const samples = [];
    const t0 = Date.now();
    const sample = async () => {
      const [a, w, used, keys, listingBytes, filesBytes, files, bullEvents, inRetention, oldestDue] = await Promise.all([
        scrape(`${base}/metrics`, { ...NODE_GAUGES, sse_clients: 'agentyard_sse_clients' }),
        scrape(`http://127.0.0.1:${workerPort}/metrics`, NODE_GAUGES),
        redis.info('memory').then((i) => Number(/used_memory:(\d+)/.exec(i)[1])),
        redis.dbsize(),
        listingKeys.reduce(async (n, k) => (await n) + Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0), Promise.resolve(0)),
        redis.call('MEMORY', 'USAGE', filesKey, 'SAMPLES', '0').then((b) => Number(b ?? 0)),
        redis.hlen(filesKey),
        redis.xlen(`bull:${queueName}:events`),
        redis.zcard(`${prefix}expiring`),
        redis.zrange(`${prefix}expiring`, 0, 0, 'WITHSCORES').then((r) => (r.length ? Number(r[1]) : undefined)),
      ]);
      const pa = procFigures(api.pid);
      const pw = procFigures(worker.pid);
      const s = {
        t: round((Date.now() - t0) / 1000), created: created.size, ended: endedCount(),
        redis_used_memory: used, redis_listing_bytes: listingBytes, redis_ws_files_bytes: filesBytes, workspace_files: files,
        redis_used_memory_less_ledger: used - filesBytes,
        redis_keys: keys, bull_events_stream_len: bullEvents,
        // Runs archived and waiting for their expiry, and how late the most overdue one is: more
        // runs kept because expiry lags (a loaded host) is not a leak, and shows here.
        runs_in_retention: inRetention, expiry_lag_s: oldestDue === undefined ? 0 : round(Math.max(0, Date.now() - oldestDue) / 1000),
      };
      for (const [k, v] of Object.entries({ rss: pa.rss, fds: pa.fds, ...a })) s[`api_${k}`] = v;
      for (const [k, v] of Object.entries({ rss: pw.rss, fds: pw.fds, ...w })) s[`worker_${k}`] = v;
      samples.push(s);
      if (process.env.SOAK_DEBUG) process.stderr.write(`${JSON.stringify(s)}\n`);
    };
    await sample();
    let sampling = Promise.resolve();
    let timer;
    const schedule = () => {
      timer = setTimeout(() => {
        sampling = sampling.then(sample);
        schedule();
      }, sampleDelayMs(sampleS));
    };
    schedule();

    // Steady rate: run i is due at t0 + i / rate, whatever the answers take.
    const durationMs = minutes * 60_000;
    const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    let late = 0;
    for (let i = 0; ; i++) {
      const due = t0 + (i * 1000) / rate;
      if (due - t0 >= durationMs) break;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else if (wait < -1000) late += 1;
      const body = { action: 'create', start: true, ...PLANS[i % PLANS.length](`r${i}`) };
      const p = fetch(`${base}/agent/execute`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) })
        .then(async (r) => {
          const j = await r.json();
          if (r.status !== 201 && r.status !== 200) throw new Error(`create answered ${r.status}: ${JSON.stringify(j).slice(0, 200)}`);
          created.add(j.run_id);
          if (sseEvery > 0 && i % sseEvery === 0) {
            sse.opened += 1;
            return followToEnd(base, j.run_id).then((saw) => (saw ? (sse.saw_end += 1) : (sse.missed_end += 1)));
          }
          return undefined;
        })
        .catch((e) => failures.push(e.message))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    const loadS = (Date.now() - t0) / 1000;
    // Slopes are over the steady load only: the samples of the drain after it would bend them.
    const loadSamples = samples.length;
    await Promise.all(inflight);
    const drainT0 = Date.now();
    while (endedCount() < created.size && Date.now() - drainT0 < 120_000) await new Promise((r) => setTimeout(r, 200));
    clearTimeout(timer);
    await sampling;
    await sample();

    return judgeSoak({
      minutes,
      rate_per_s: rate,
      retention_s: retentionS,
      reconcile_s: reconcileS,
      max_listed_runs: listedRuns,
      worker_concurrency: concurrency,
      sample_s: sampleS,
      ...(warmupS !== undefined ? { warmup_s_requested: warmupS } : {}),
      load_s: round(loadS),
      creates_late_by_over_1s: late,
      runs_created: created.size,
      runs_ended: ended,
      runs_not_succeeded: created.size - ended.succeeded,
      create_failures: failures.length,
      create_failure_examples: failures.slice(0, 5),
      sse_streams: sse,
      samples: samples.length,
      samples_under_load: loadSamples,
      after_drain: samples.at(-1),
      sample_log: samples,
    });
  } finally {
    await sub.quit().catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await Promise.all([stopChild(worker), stopChild(api)]);
    await stopRedis(redisInfo);
    rmSync(dir, { recursive: true, force: true });
  }
}

const SERIES = [
  'api_rss', 'api_heap_used', 'api_heap_floor', 'api_heap_old_floor', 'api_fds', 'api_handles', 'api_resources', 'api_sse_clients',
  'worker_rss', 'worker_heap_used', 'worker_heap_floor', 'worker_heap_old_floor', 'worker_fds', 'worker_handles', 'worker_resources',
  'redis_used_memory', 'redis_used_memory_less_ledger', 'redis_listing_bytes', 'redis_ws_files_bytes', 'redis_keys', 'bull_events_stream_len',
  'runs_in_retention',
];
// What grows by design: the workspace files' ledger (an entry per file the tenant keeps in
// storage, up to max_workspace_files: the soak's fs.write runs keep their files, as a workspace
// does), and used_memory with it. Everything else, the listing included (bounded by
// max_listed_runs, which the warm-up waits for), must be flat.
const BY_DESIGN = ['redis_ws_files_bytes', 'redis_used_memory'];
// Reported, not failed on: the whole heap used, and its floor, count the young generation, whose
// fill swings between empty and its size at every scavenge and whose size V8 raises under load
// (32 to 128 MB here): a floor that steps up with it says nothing about what survived.
// A leak survives into the old generation, whose floor is judged (heap snapshots of a soak's
// API taken 11 minutes apart: +0.3 MB retained, all of it JIT code, while the heap floor rose).
const REPORTED = ['api_heap_used', 'api_heap_floor', 'worker_heap_used', 'worker_heap_floor'];

/**
 * The verdicts of a soak from its samples (also `--rejudge FILE`: a saved soak judged again by
 * these rules, without 30 more minutes). Slopes are over the samples under the steady load only
 * (the drain after it would bend them).
 */
function judgeSoak(r) {
  const samples = r.sample_log.slice(0, r.samples_under_load);
  // BullMQ's event stream fills up to its cap (streams.events.maxLen, 10,000; ~4 minutes at
  // 10 runs/s) once, then stays there: a fill-up, not a leak, so the warm-up waits for it.
  const capped = samples.find((x) => x.bull_events_stream_len >= 0.99 * BULL_EVENTS_CAP);
  // The listing fills up to max_listed_runs forgotten runs once (at the rate, after the first
  // retention), then stays there: the warm-up waits for that too.
  const listed = r.max_listed_runs ? r.max_listed_runs / r.rate_per_s + 2 * r.retention_s + 4 * r.reconcile_s : 0;
  const warm = r.warmup_s_requested ?? Math.max(60, 3 * r.retention_s, r.minutes * 6, capped ? capped.t + r.sample_s : 0, listed);
  // The heap's floor: the least heap used of each minute (6 samples, a minute on average), what survived the GCs of
  // that minute. The raw samples swing by tens of MB with the collector; a leak lifts the floor.
  const floors = [];
  for (let i = 0; i + 6 <= samples.length; i += 6) {
    const block = samples.slice(i, i + 6);
    const f = { t: block.at(-1).t };
    for (const p of ['api', 'worker']) {
      for (const [from, to] of [['heap_used', 'heap_floor'], ['heap_old', 'heap_old_floor']]) {
        const v = block.map((x) => x[`${p}_${from}`]).filter((x) => x !== undefined);
        if (v.length) f[`${p}_${to}`] = Math.min(...v);
      }
    }
    floors.push(f);
  }
  // Counts (fds, handles, resources, streams, keys) are judged from 5 per hour up: a leak tied
  // to the traffic (one per run or per stream) grows by thousands per hour at this rate.
  const series = Object.fromEntries(
    SERIES.map((k) => [k, judge(k.endsWith('_floor') ? floors : samples, k, warm, /rss|heap|memory|bytes/.test(k) ? 0 : COUNT_FLOOR_PER_HOUR)]),
  );
  const growing = Object.entries(series).filter(([k, x]) => x.verdict === 'grows' && !BY_DESIGN.includes(k) && !REPORTED.includes(k)).map(([k]) => k);
  const inconclusive = Object.entries(series).filter(([, x]) => x.verdict === 'inconclusive').map(([k]) => k);
  const stepped = Object.entries(series).filter(([, x]) => x.verdict === 'stepped').map(([k]) => k);
  const last = r.sample_log.at(-1);
  const runsOk = r.create_failures === 0 && r.runs_not_succeeded === 0 && r.runs_ended.succeeded === r.runs_created;
  const { sample_log: log, ...rest } = r;
  return {
    ...rest,
    warmup_s: warm,
    growth_threshold: `${GROWTH_PER_HOUR * 100} % of the series' mean after the warm-up per hour (counts: at least ${COUNT_FLOOR_PER_HOUR} per hour), and above 3 standard errors of the slope`,
    verdict: runsOk && growing.length === 0 ? (inconclusive.length ? 'pass (some series inconclusive: too short or noisy)' : 'pass') : 'FAIL',
    growing,
    // Judged but not failed on: what Redis keeps for good by design (BY_DESIGN).
    grows_by_design: BY_DESIGN.filter((k) => series[k].verdict === 'grows'),
    reported_not_judged: REPORTED,
    listing_bytes_per_listed_run: r.max_listed_runs ? round(last.redis_listing_bytes / r.max_listed_runs, 1) : undefined,
    ws_files_ledger_bytes_per_file: round(last.redis_ws_files_bytes / Math.max(1, last.workspace_files), 1),
    workspace_files_kept: last.workspace_files,
    // How late the most overdue run was (a reconciler pass every reconcile_s expires what is
    // due): bounded by about reconcile_s while expiry keeps up, growing when it falls behind.
    expiry_lag_s_max: Math.max(0, ...samples.filter((x) => x.t >= warm).map((x) => x.expiry_lag_s ?? 0)),
    inconclusive,
    stepped,
    series,
    sample_log: log,
  };
}

/** One line per series: verdict, slope per hour (± standard error), first -> last. */
function table(r) {
  const mb = (k, v) => (/rss|heap|memory|bytes/.test(k) && v !== null && v !== undefined ? `${round(v / 2 ** 20)} MB` : `${v}`);
  const lines = ['| series | verdict | slope / h | ± se / h | threshold / h | 2nd half / h | first | after warm-up | last |', '|---|---|---|---|---|---|---|---|---|'];
  for (const [k, s] of Object.entries(r.series)) {
    lines.push(`| ${k} | ${s.verdict} | ${mb(k, s.slope_per_hour)} | ${mb(k, s.slope_se_per_hour)} | ${mb(k, s.threshold_per_hour)} | ${mb(k, s.second_half_slope_per_hour)} | ${mb(k, s.first)} | ${mb(k, s.first_after_warmup)} | ${mb(k, s.last)} |`);
  }
  return lines.join('\n');
}

async function main() {
  if (argAt('rejudge') > 0) {
    const file = str('rejudge');
    const result = { ...judgeSoak(JSON.parse(readFileSync(file, 'utf8'))), rejudged_at: new Date().toISOString() };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${table(result)}\n\nverdict: ${result.verdict}\n`);
    process.exit(result.verdict.startsWith('pass') ? 0 : 1);
  }
  const keepForever = process.argv.includes('--keep-forever');
  const result = {
    started_at: new Date().toISOString(),
    host_load_avg: { start: loadAvg() },
    ...(await soak({
      minutes: num('soak-minutes', 30),
      rate: num('rate', 10),
      retentionS: keepForever ? 0 : num('retention-s', 10),
      reconcileS: num('reconcile-s', 2),
      concurrency: num('concurrency', 16),
      sseEvery: num('sse-every', 4),
      sampleS: num('sample-s', 10),
      warmupS: argAt('warmup-s') > 0 ? num('warmup-s') : undefined,
      listedRuns: num('listed-runs', 2000),
    })),
  };
  result.host_load_avg.end = loadAvg();
  const json = JSON.stringify(result, null, 2);
  if (str('out', undefined)) writeFileSync(str('out'), `${json}\n`);
  const { sample_log: _s, ...summary } = result;
  process.stdout.write(`${table(result)}\n\nverdict: ${result.verdict}; runs ${result.runs_created} created, ${result.runs_not_succeeded} not succeeded; host load ${result.host_load_avg.start} -> ${result.host_load_avg.end}\n\n${JSON.stringify(summary, null, 2)}\n`);
  process.exit(result.verdict.startsWith('pass') ? 0 : 1);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`soak failed: ${err.stack || err}\n`);
    process.exit(1);
  });
}

module.exports = { soak, judgeSoak };
