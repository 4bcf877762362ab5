#!/usr/bin/env node
/**
 * Chaos drills (not a test; needs a build). Each drill starts its own stack on loopback:
 * Redis with AOF (appendfsync always, see infra.js), s3rver (WORKSPACE_DRIVER=s3), the API
 * and 3 worker processes from dist. It puts a steady load of mixed runs on it (fs, wait,
 * fail-then-succeed, approvals, shell.exec when bubblewrap works) while it breaks one thing:
 *
 *   a  a random worker is kill -9'ed every ~10 s and started again
 *   b  Redis is kill -9'ed and restarted from its AOF, twice mid-load (at 30 % and 65 %)
 *   c  S3 (s3rver) stops for 20 s
 *   d  every worker in turn gets SIGTERM (drains) and is replaced
 *   e  Redis Sentinel: primary, replica and 3 sentinels (Debian's redis-sentinel); the
 *      primary is kill -9'ed mid-load; Agentyard connects only through the sentinels
 *
 * Each drill prints one JSON line: verdict (pass only with 0 runs lost, 0 runs not
 * succeeded, 0 steps run again after they had succeeded, 0 SSE events lost or duplicated
 * across reconnects) and figures, recovery times included. Exit code 1 when any fails.
 *
 *   node scripts/chaos/index.js [--drill a,b,c,d,e] [--runs 1000] [--rate 8] [--keep]
 *
 * --keep leaves the temporary directory (process logs, Redis and S3 data) for a post-mortem;
 * it is kept anyway when a drill fails.
 */
const { mkdtempSync, rmSync, readdirSync, readFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { stop, kill9, killAll, sleep, waitFor } = require('./procs');
const infra = require('./infra');
const { createClient, runLoad, verify } = require('./load');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const DRILLS = arg('drill', 'a,b,c,d,e').split(',');
const RUNS = Number(arg('runs', 1000));
const RATE = Number(arg('rate', 8));
const KEEP = process.argv.includes('--keep');
const WORKERS = 3;
const MASTER = 'agentyard';

/** shell.exec runs when bubblewrap can make a sandbox here (not in every container). */
const shellWorks = () => spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', 'true'], { stdio: 'ignore' }).status === 0;

async function startStack(tmp, { sentinel }) {
  const tag = randomBytes(3).toString('hex');
  const token = `tok_chaos_${tag}`;
  const s3node = await infra.s3(tmp);
  let redis;
  let redisEnv;
  if (sentinel) {
    redis = await infra.sentinelSet(tmp, MASTER);
    redisEnv = {
      // REDIS_URL's host is deliberately a dead port: only the sentinels may lead to Redis.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: redis.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: MASTER,
    };
  } else {
    redis = await infra.redisNode(tmp, 'redis');
    redisEnv = { REDIS_URL: redis.url };
  }
  const shell = shellWorks();
  const env = infra.appEnv({ redisEnv, s3node, prefix: `aychaos:${tag}:`, queue: `ay-chaos-${tag}`, token, extra: shell ? { EXECUTOR: 'local' } : {} });
  const api = await infra.api(tmp, env);
  // A short drain, so drill d also hands runs back mid-step (the 'long' plan waits 8 s).
  const workerEnv = { ...env, WORKER_CONCURRENCY: '8', WORKER_DRAIN_S: '5' };
  const workers = Array.from({ length: WORKERS }, (_, i) => infra.worker(tmp, workerEnv, i));
  let started = WORKERS;
  const client = createClient({ url: api.url, token });
  return {
    tmp, s3node, redis, api, workers, client, shell,
    replaceWorker(i) {
      workers[i] = infra.worker(tmp, workerEnv, started++);
      return workers[i];
    },
    async close() {
      // Workers and API first (bounded by SIGKILL after a grace), then what they depend on.
      await Promise.all([...workers.map((w) => stop(w, { graceMs: 8000 })), stop(api.proc, { graceMs: 5000 })]);
      await kill9(s3node.proc);
      if (sentinel) await Promise.all([...redis.sentinels.map((s) => kill9(s.proc)), kill9(redis.primary.proc), kill9(redis.replica.proc)]);
      else await kill9(redis.proc);
    },
  };
}

/** Times to recover from one fault: how long the runs in flight at `at` took to move again after `until`. */
function recovery(followers, at, until) {
  const inflight = followers.filter((f) => f.got.length && f.got[0].at <= at && !f.got.some((g) => g.type === 'end' && g.at <= at));
  const waits = inflight
    .map((f) => f.got.find((g) => g.at > until))
    .filter(Boolean)
    .map((g) => g.at - at)
    .sort((x, y) => x - y);
  const anyAfter = followers.flatMap((f) => f.got.filter((g) => g.at > until).map((g) => g.at)).sort((x, y) => x - y)[0];
  return {
    in_flight: inflight.length,
    all_in_flight_moved_s: waits.length ? round(waits.at(-1) / 1000) : null,
    median_s: waits.length ? round(waits[Math.floor(waits.length / 2)] / 1000) : null,
    first_event_after_s: anyAfter ? round((anyAfter - until) / 1000) : null,
  };
}

const round = (n) => Math.round(n * 100) / 100;

/**
 * Drill a, per kill: what the dead-worker sweep (WORKER_DEAD_AFTER_MS) did about it, from the
 * workers' own log lines ("moved the runs of a worker that stopped heartbeating"), each line
 * counted for the latest kill before it. Read after the stack closed (the logs are flushed).
 */
function sweepsPerKill(tmp, kills) {
  const moves = [];
  for (const f of readdirSync(tmp).filter((n) => /^worker-\d+\.log$/.test(n))) {
    for (const line of readFileSync(join(tmp, f), 'utf8').split('\n')) {
      if (!line.includes('stopped heartbeating')) continue;
      try {
        const j = JSON.parse(line);
        moves.push({ time: j.time, jobs: j.jobIds?.length ?? 0 });
      } catch {
        // a line cut off by a kill
      }
    }
  }
  return kills.map((k, i) => {
    const next = kills[i + 1]?.at ?? Infinity;
    const mine = moves.filter((m) => m.time >= k.at && m.time < next).sort((x, y) => x.time - y.time);
    return { ...k, swept_jobs: mine.reduce((n, m) => n + m.jobs, 0), swept_after_s: mine.length ? round((mine[0].time - k.at) / 1000) : null };
  });
}

/** Each drill: a fault schedule run beside the load; returns its faults and extra figures. */
const schedules = {
  async a(stack, load) {
    const faults = [];
    while (!load.creating.done) {
      await sleep(8000 + Math.random() * 4000);
      if (load.creating.done) break;
      const i = Math.floor(Math.random() * WORKERS);
      const at = Date.now();
      await kill9(stack.workers[i]);
      stack.replaceWorker(i);
      faults.push({ kind: 'kill -9 worker', worker: i, at, until: at });
    }
    return { faults };
  },
  async b(stack, load) {
    // Twice mid-load (at 30 % and 65 % of the creates): the second restart finds workers,
    // API and clients already back from the first one, with its repairs (re-queued runs,
    // pending archives) possibly still under way.
    const faults = [];
    const restarts = [];
    for (const f of [0.3, 0.65]) {
      await sleep(Math.max(0, load.startedAt + load.durationMs * f - Date.now()));
      const at = Date.now();
      await kill9(stack.redis.proc);
      await sleep(2000);
      // Recovery counts from the restart itself: the wait for a PONG below can outlast Redis's
      // own start by seconds on a loaded host (one connect attempt that hangs), and runs that
      // moved meanwhile would then count as never having moved after it.
      const back = Date.now();
      await stack.redis.restart();
      restarts.push({ pong_after_restart_s: round((Date.now() - back) / 1000) });
      faults.push({ kind: 'kill -9 redis, restart from AOF after 2 s', at, until: back });
    }
    return { faults, restarts };
  },
  async c(stack, load) {
    await sleep(load.durationMs * 0.3);
    const at = Date.now();
    await kill9(stack.s3node.proc);
    await sleep(20_000);
    await stack.s3node.restart();
    return { faults: [{ kind: 's3rver stopped for 20 s', at, until: Date.now() }] };
  },
  async d(stack, load) {
    await sleep(load.durationMs * 0.2);
    const faults = [];
    const exits = [];
    for (let i = 0; i < WORKERS; i++) {
      const at = Date.now();
      // WORKER_DRAIN_S is 5 s here: a drain never takes longer than that plus its close.
      const r = await stop(stack.workers[i], { signal: 'SIGTERM', graceMs: 20_000 });
      exits.push({ worker: i, code: r.code, signal: r.signal, drain_s: round((Date.now() - at) / 1000) });
      stack.replaceWorker(i);
      faults.push({ kind: 'SIGTERM worker, replaced after its exit', worker: i, at, until: Date.now() });
      await sleep(3000);
    }
    return { faults, exits, ok: exits.every((e) => e.code === 0) };
  },
  async e(stack, load) {
    await sleep(load.durationMs * 0.35);
    const { primary, replica, sentinels } = stack.redis;
    const at = Date.now();
    await kill9(primary.proc);
    await waitFor(async () => (await infra.masterPort(sentinels, MASTER)) === replica.port, { timeoutMs: 60_000, label: 'the sentinels to promote the replica' });
    const promotedS = round((Date.now() - at) / 1000);
    // The old primary comes back; the sentinels turn it into a replica of the new one.
    await primary.restart();
    return { faults: [{ kind: 'kill -9 primary; sentinels fail over', at, until: at + promotedS * 1000 }], failover_s: promotedS };
  },
};

async function drill(name) {
  const tmp = mkdtempSync(join(tmpdir(), `ay-chaos-${name}-`));
  let stack;
  let result;
  try {
    stack = await startStack(tmp, { sentinel: name === 'e' });
    const load = { creating: { done: false }, durationMs: (RUNS / RATE) * 1000, startedAt: Date.now() };
    const loadRun = runLoad({ client: stack.client, runs: RUNS, ratePerS: RATE, shell: stack.shell, long: name === 'd', drainMs: 180_000 }).finally(() => (load.creating.done = true));
    // runLoad resolves after the drain; `creating.done` must flip when the creates are in.
    const creatingDone = sleep(load.durationMs).then(() => (load.creating.done = true));
    const [figures, extra] = await Promise.all([loadRun, schedules[name](stack, load), creatingDone]);
    const checks = await verify(stack.client, figures);
    const faults = extra.faults.map((f) => ({ kind: f.kind, ...(f.worker !== undefined ? { worker: f.worker } : {}), ...recovery(figures.followers, f.at, f.until) }));
    const moved = faults.map((f) => f.all_in_flight_moved_s).filter((s) => s !== null);
    const pass =
      checks.runs_lost === 0 && checks.runs_not_succeeded === 0 && checks.steps_rerun_after_success === 0 &&
      checks.sse_events_lost === 0 && checks.sse_events_duplicated === 0 && checks.seq_gaps === 0 && checks.create_failures === 0 &&
      extra.ok !== false;
    const { faults: _f, ok: _o, ...rest } = extra;
    result = {
      drill: name,
      verdict: pass ? 'pass' : 'FAIL',
      runs: RUNS,
      rate_per_s: RATE,
      shell: stack.shell,
      ...checks,
      load_s: round(figures.loadS),
      total_s: round(figures.totalS),
      faults: faults.length,
      worst_recovery_s: moved.length ? Math.max(...moved) : null,
      // Drill a lists every kill (its sweep is added below, once the logs are flushed).
      fault_detail: name === 'a' || faults.length <= 6 ? faults : faults.slice(0, 6),
      ...rest,
    };
    if (name === 'a') result.kill_at = extra.faults.map((f) => f.at);
  } catch (e) {
    result = { drill: name, verdict: 'FAIL', error: e.message };
  } finally {
    if (stack) await stack.close().catch((e) => process.stderr.write(`chaos: closing the stack: ${e.message}\n`));
    // Whatever a failed start or close left (a stack half up) must not outlive its drill.
    await killAll();
  }
  if (result.kill_at) {
    const kills = sweepsPerKill(tmp, result.fault_detail.map((f, i) => ({ ...f, at: result.kill_at[i] })));
    result.fault_detail = kills.map(({ at: _at, kind: _k, ...k }) => k);
    result.kills_with_sweep = kills.filter((k) => k.swept_jobs > 0).length;
    result.kills_with_nothing_in_flight = kills.filter((k) => k.in_flight === 0).length;
    const swept = kills.map((k) => k.swept_after_s).filter((s) => s !== null).sort((x, y) => x - y);
    result.sweep_after_kill_s = swept.length ? { min: swept[0], median: swept[Math.floor(swept.length / 2)], max: swept.at(-1) } : null;
    delete result.kill_at;
  }
  if (result.verdict === 'pass' && !KEEP) rmSync(tmp, { recursive: true, force: true });
  else result.logs = tmp;
  return result;
}

async function main() {
  const unknown = DRILLS.filter((d) => !schedules[d]);
  if (unknown.length) throw new Error(`unknown drill ${unknown.join(',')}: choose from a,b,c,d,e`);
  const hasSentinel = () => spawnSync('redis-sentinel', ['--version'], { stdio: 'ignore' }).status === 0;
  if (DRILLS.includes('e') && !hasSentinel()) {
    // As scripts/test does for its tools: apt-get install when we may (root), else say what is missing.
    spawnSync('bash', ['-c', 'source scripts/lib/common.sh && ensure_package redis-sentinel redis-sentinel "drill e cannot run"'], { cwd: join(__dirname, '..', '..'), stdio: 'inherit' });
    if (!hasSentinel()) throw new Error('drill e needs redis-sentinel (Debian package redis-sentinel)');
  }
  let failed = 0;
  for (const d of DRILLS) {
    const r = await drill(d);
    if (r.verdict !== 'pass') failed += 1;
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ chaos: failed ? 'FAIL' : 'pass', drills: DRILLS, failed })}\n`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  process.stderr.write(`chaos: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
