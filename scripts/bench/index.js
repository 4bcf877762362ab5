#!/usr/bin/env node
/**
 * Agentyard benchmark suite (not a test): every figure next to its substrate counterpart
 * measured by the same invocation on the same private Redis, as a ratio against its target
 * (issue 11). Prints a markdown table, then the JSON (also written to --out when given).
 * Needs a build (pnpm build). Bounded: the default run takes a few minutes.
 *
 *   node scripts/bench/index.js [--only drain,http,latency,fanout,recovery,retention,executor,soak]
 *     [--runs 1000] [--concurrency 1,10,50] [--http-seconds 5] [--http-connections 32]
 *     [--latency-samples 100] [--sse-clients 1000] [--sse-events 100] [--sse-interval-ms 50]
 *     [--recovery-tries 3] [--retention-runs 500] [--retention-s 5] [--reconcile-s 0.5]
 *     [--soak] [--soak-minutes 30] [--soak-rate 10] [--soak-retention-s 10] (or scripts/bench/soak.js alone)
 *     [--profile-dir DIR] (the worker at the middle concurrency under node --cpu-prof) [--out FILE]
 *     [--workspace-dir DIR] (where the drain's worker writes the runs' archives; default the OS temp dir)
 *   env BENCH_API_PROF=DIR profiles the API process of `http` and `fanout` the same way;
 *   BENCH_API_NODE_OPTIONS adds node flags to that API process (an experiment, e.g. `--trace-gc`);
 *   BENCH_DEBUG=1 makes the SSE load process report its progress and errors.
 *
 * drain     a worker process drains pre-filled single-step runs (first started -> last
 *           finished, the runs' own timestamps) vs a no-op BullMQ worker process draining
 *           pre-filled jobs with the same options; worker CPU per run, Redis commands per run
 * http      create+start req/s and p50/p99, autocannon in its own process against the API
 *           process, vs bare Express + queue.add loaded the same way; API CPU per request
 * latency   start -> first SSE event (and -> the worker's `running`) vs raw add -> processor start
 * fanout    N SSE clients (own process) on one run of one API process vs one ioredis
 *           subscriber fanning out to N bare Express SSE responses
 * recovery  kill -9 of the worker holding a step, at default settings: -> step restarted, -> run done
 * retention Redis bytes and keys per finished run before and after RUN_RETENTION_S
 * soak      (opt-in) 30 minutes at a steady rate with a short retention: RSS, heap, fds and
 *           handles of the API and worker processes and Redis used_memory sampled every 10 s,
 *           their slopes per hour against a flatness threshold (scripts/bench/soak.js)
 * executor  start-to-exit of `true` through the sandboxes vs a bare spawn
 * Every phase records the host's steal (/proc/stat); only same-run ratios mean anything.
 */
const { writeFileSync } = require('node:fs');
const { startRedis, stopRedis, freePort } = require('./support');
const { createApiStack } = require('./api-stack');
const { drainAgentyard, drainBullmq, archiveFloor } = require('./drain');
const { createStartFigures } = require('./http');
const { latencyFigures } = require('./latency');
const { fanoutFigures } = require('./fanout');
const { recoveryFigures } = require('./recovery');
const { retentionFigures } = require('./retention');
const { soak } = require('./soak');
const { executorOverhead } = require('./executor');
const { verdicts, markdown } = require('./report');
const { loadAvg } = require('./probes');

const argAt = (name) => process.argv.indexOf(`--${name}`);
const num = (name, dflt) => (argAt(name) > 0 ? Number(process.argv[argAt(name) + 1]) : dflt);
const str = (name, dflt) => (argAt(name) > 0 ? process.argv[argAt(name) + 1] : dflt);
const SOAK = process.argv.includes('--soak') || process.env.BENCH_SOAK === '1';
const sections = str('only', ['drain', 'http', 'latency', 'fanout', 'recovery', 'retention', 'executor', ...(SOAK ? ['soak'] : [])].join(',')).split(',');
const want = (s) => sections.includes(s);

async function main() {
  const redis = await startRedis();
  const url = redis.url;
  const stack = createApiStack(url);
  const result = { redis: redis.own ? 'private redis-server' : url, started_at: new Date().toISOString(), host_load_avg: { start: loadAvg() } };
  const concurrencies = str('concurrency', '1,10,50').split(',').map(Number);
  const profileDir = str('profile-dir', undefined);
  // Where the drain's worker keeps its workspace (the runs' archives): the OS temp dir by
  // default; a tmpfs (/dev/shm) takes the host disk's cost of creating files out of the figure.
  const workspaceBase = str('workspace-dir', undefined);
  // A section that fails is reported as failed (its error in the JSON and a FAIL row), and the
  // others still run: one bad figure must not lose a quarter of an hour of the rest.
  const section = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      (result.failed_sections ??= {})[name] = String(err?.message ?? err);
      process.stderr.write(`bench section ${name} failed: ${err?.stack ?? err}\n`);
    }
  };
  try {
    if (want('drain')) {
      await section('drain', async () => {
        result.drain = {};
        for (const c of concurrencies) {
          const runs = num('runs', 1000);
          const profile = profileDir && c === concurrencies[Math.floor(concurrencies.length / 2)] ? profileDir : undefined;
          const agentyard = await drainAgentyard({ url, concurrency: c, runs, stack, profileDir: profile, workspaceBase });
          const bullmq = await drainBullmq({ url, concurrency: c, runs });
          result.drain[`c${c}`] = { concurrency: c, runs, agentyard, bullmq };
        }
        result.drain_archive_floor = archiveFloor(workspaceBase);
      });
    }
    if (want('http')) {
      await section('http', async () => {
        result.http = await createStartFigures({ url, connections: num('http-connections', 32), seconds: num('http-seconds', 5), freePort, cleanup: stack.cleanup });
      });
    }
    if (want('latency')) await section('latency', async () => (result.latency = await latencyFigures({ url, samples: num('latency-samples', 100), stack, freePort })));
    if (want('fanout')) {
      await section('fanout', async () => {
        result.fanout = await fanoutFigures({
          url, clients: num('sse-clients', 1000), events: num('sse-events', 100), intervalMs: num('sse-interval-ms', 50), freePort, cleanup: stack.cleanup,
        });
      });
    }
    if (want('recovery')) await section('recovery', async () => (result.recovery = await recoveryFigures({ url, tries: num('recovery-tries', 3), stack })));
  } finally {
    await stack.close();
    await stopRedis(redis);
  }
  // Each on a private redis-server of its own (their used_memory must be theirs alone).
  const figures = { concurrency: 8, reconcileS: num('reconcile-s', 0.5) };
  if (want('retention')) await section('retention', async () => (result.retention = await retentionFigures({ ...figures, runs: num('retention-runs', 500), retentionS: num('retention-s', 5) })));
  if (want('soak')) {
    await section('soak', async () => {
      const r = await soak({
        minutes: num('soak-minutes', 30), rate: num('soak-rate', 10), retentionS: num('soak-retention-s', 10), reconcileS: 2,
        concurrency: 16, sseEvery: 4, sampleS: 10,
      });
      const { sample_log: _samples, ...summary } = r;
      result.soak = summary;
    });
  }
  if (want('executor')) await section('executor', async () => (result.executor = await executorOverhead()));

  result.host_load_avg.end = loadAvg();
  result.verdicts = verdicts(result);
  const json = JSON.stringify(result, null, 2);
  if (str('out', undefined)) writeFileSync(str('out'), `${json}\n`);
  process.stdout.write(`${markdown(result.verdicts)}\n\nhost load average ${result.host_load_avg.start} -> ${result.host_load_avg.end} on ${require('node:os').cpus().length} cores\n\n${json}\n`);
  // BullMQ's duplicated blocking connections must not keep us alive against a stopped Redis.
  process.exit(result.failed_sections ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack || err}\n`);
  process.exit(1);
});
