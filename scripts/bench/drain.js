/**
 * Worker drain: how fast one worker process empties a queue that was filled before it
 * could start, at a given concurrency, against a no-op BullMQ worker process draining
 * pre-filled jobs with the same job options at the same concurrency.
 *
 * Both workers are warmed up first (20 runs/jobs), then the queue is paused, filled, and
 * resumed: the drain is timed from the first run started to the last run finished by the
 * runs' own timestamps (started_at, finished_at; BullMQ's processedOn and finishedOn for
 * the baseline). Between fill and the end of the drain: the worker's CPU time, the host's
 * steal, and every Redis command (INFO commandstats), per run.
 */
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { spawn } = require('node:child_process');
const { requireFrom, pool, benchTenantsFile } = require('./support');
const { cpuMs, sysMs, stealMeter, commandStats, commandDelta, redisCpuMs } = require('./probes');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const workerDir = join(root, 'apps', 'worker');
const WARMUP = 20;

function spawnWorker(script, env, nodeArgs = []) {
  return spawn(process.execPath, [...nodeArgs, script], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

const exited = (child) => (child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)));
const nextMessage = (child, pred) =>
  new Promise((resolve) => {
    const on = (m) => {
      if (pred(m)) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
  });

async function waitFinished(redis, key, n, label) {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const v = Number((await redis.hget(key, 'succeeded')) ?? 0);
    if (v >= n) return;
    if (Date.now() > deadline) throw new Error(`${label}: only ${v} of ${n} runs succeeded within 300 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One Agentyard worker process draining `runs` pre-filled single-step runs. */
async function drainAgentyard({ url, concurrency, runs, profileDir, stack, workspaceBase }) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const { Queue } = requireFrom(apiDir, 'bullmq');
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const queueName = `ay-drain-${tag}`;
  const { post } = await stack.api({ prefix, queueName });
  const dir = mkdtempSync(join(workspaceBase ?? tmpdir(), 'ay-bench-drain-'));
  const worker = spawnWorker(
    join(workerDir, 'dist', 'main.js'),
    {
      REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, WORKER_CONCURRENCY: String(concurrency),
      // Logging as in production (info, to a stdout nobody reads): its cost is part of a run's.
      WORKSPACE_DIR: dir, WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info', TENANTS_FILE: benchTenantsFile(dir),
    },
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  const redis = new Redis(url);
  const queue = new Queue(queueName, { connection: redis });
  const finished = `${prefix}stats:finished`;
  const oneStep = { action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'hi' } }] };
  try {
    await pool(WARMUP, 8, () => post(oneStep));
    await waitFinished(redis, finished, WARMUP, 'warm-up');
    await queue.pause();
    const ids = [];
    await pool(runs, 32, async () => ids.push((await post(oneStep)).run_id));
    const before = { cpu: cpuMs(worker.pid), sys: sysMs(worker.pid), cmds: await commandStats(redis), redisCpu: await redisCpuMs(redis), steal: stealMeter() };
    await queue.resume();
    await waitFinished(redis, finished, WARMUP + runs, 'drain');
    const cpu = cpuMs(worker.pid) - before.cpu;
    const sys = sysMs(worker.pid) - before.sys;
    const cmds = commandDelta(before.cmds, await commandStats(redis));
    const redisCpu = (await redisCpuMs(redis)) - before.redisCpu;
    const steal = before.steal.end();
    const stamps = await Promise.all(ids.map((id) => redis.hmget(`${prefix}run:${id}`, 'started_at', 'finished_at')));
    const first = Math.min(...stamps.map(([s]) => Date.parse(s)));
    const last = Math.max(...stamps.map(([, f]) => Date.parse(f)));
    const spanMs = Math.max(1, last - first);
    return {
      runs_per_s: round((runs / spanMs) * 1000),
      span_ms: spanMs,
      worker_cpu_ms_per_run: round(cpu / runs, 3),
      worker_sys_ms_per_run: round(sys / runs, 3),
      workspace_dir: workspaceBase ?? tmpdir(),
      redis_commands_per_run: round(cmds.total / runs, 1),
      redis_cpu_ms_per_run: round(redisCpu / runs, 3),
      redis_scripts_per_run: round(((cmds.delta.evalsha ?? 0) + (cmds.delta.eval ?? 0)) / runs, 2),
      redis_commands_top: top(cmds.delta, runs),
      redis_usec_top: top(cmds.usec, runs),
      steal_pct: steal,
    };
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await stack.cleanup(prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A no-op BullMQ worker process draining `runs` pre-filled jobs with Agentyard's job options. */
async function drainBullmq({ url, concurrency, runs }) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const { Queue } = requireFrom(apiDir, 'bullmq');
  const { jobOptions } = requireFrom(apiDir, '@agentyard/queue');
  const tag = randomBytes(3).toString('hex');
  const queueName = `ay-drain-raw-${tag}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: redis });
  const raw = spawnWorker(join(__dirname, 'raw-worker.js'), { REDIS_URL: url, QUEUE_NAME: queueName, CONCURRENCY: String(concurrency) });
  let n = 0;
  const add = () => {
    const id = `run_raw${tag}${n++}`;
    const opts = jobOptions({ id, gen: 1, options: { priority: 'normal', max_attempts: 3 } }, 2000);
    return queue.add('run', { runId: id, tenant: 'bench', gen: 1 }, opts);
  };
  try {
    await nextMessage(raw, (m) => m.ready);
    const warm = nextMessage(raw, (m) => m.done !== undefined);
    raw.send({ expect: WARMUP });
    await pool(WARMUP, 8, add);
    await warm;
    await queue.pause();
    await pool(runs, 32, add);
    const before = { cpu: cpuMs(raw.pid), cmds: await commandStats(redis), redisCpu: await redisCpuMs(redis), steal: stealMeter() };
    const drained = nextMessage(raw, (m) => m.done !== undefined);
    raw.send({ expect: runs });
    await queue.resume();
    const { first, last } = await drained;
    const cpu = cpuMs(raw.pid) - before.cpu;
    const cmds = commandDelta(before.cmds, await commandStats(redis));
    const redisCpu = (await redisCpuMs(redis)) - before.redisCpu;
    const spanMs = Math.max(1, last - first);
    return {
      jobs_per_s: round((runs / spanMs) * 1000),
      span_ms: spanMs,
      worker_cpu_ms_per_job: round(cpu / runs, 3),
      redis_commands_per_job: round(cmds.total / runs, 1),
      redis_cpu_ms_per_job: round(redisCpu / runs, 3),
      steal_pct: before.steal.end(),
    };
  } finally {
    raw.kill('SIGTERM');
    await exited(raw);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    redis.disconnect();
  }
}

function top(delta, runs) {
  return Object.fromEntries(
    Object.entries(delta)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, v]) => [k, round(v / runs, 2)]),
  );
}

/**
 * What the drain's disk alone charges for a short run's archive: the same 5 directories
 * (workspace, .agent, runs, <run_id>, events) and 2 files (run.json, one segment, each a temp
 * file renamed into place) created with plain synchronous fs calls, no Agentyard code. The
 * kernel CPU per run it prints is a floor under the worker's on the same disk: on a disk where
 * it is larger than a no-op BullMQ job's whole cost, no archive layout of this shape reaches the
 * drain targets, and a tmpfs (--workspace-dir /dev/shm) shows the software's own figure.
 */
function archiveFloor(workspaceBase, runs = 1000) {
  const fs = require('node:fs');
  const base = fs.mkdtempSync(join(workspaceBase ?? tmpdir(), 'ay-bench-floor-'));
  const body = 'x'.repeat(600);
  try {
    const u0 = process.cpuUsage();
    for (let i = 0; i < runs; i++) {
      const ws = join(base, `run${i}`);
      const dir = join(ws, '.agent', 'runs', `run${i}`);
      for (const d of [ws, join(ws, '.agent'), join(ws, '.agent', 'runs'), dir, join(dir, 'events')]) fs.mkdirSync(d);
      for (const f of [join(dir, 'run.json'), join(dir, 'events', '000000000001.jsonl')]) {
        fs.writeFileSync(`${f}.tmp`, body);
        fs.renameSync(`${f}.tmp`, f);
      }
    }
    const u = process.cpuUsage(u0);
    return { workspace_dir: workspaceBase ?? tmpdir(), sys_ms_per_run: round(u.system / 1000 / runs, 3), user_ms_per_run: round(u.user / 1000 / runs, 3) };
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

module.exports = { drainAgentyard, drainBullmq, archiveFloor };
