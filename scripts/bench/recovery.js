/**
 * Crash recovery at default settings: two worker processes (nothing but connection settings
 * in their environment), a run whose second step waits; once that step runs, the worker
 * holding it is killed with SIGKILL. Timed from the kill to the step restarted (its attempt
 * 2 running) and to the run done. BullMQ alone recovers within lock + 2 x stall interval;
 * Agentyard's live workers move a dead worker's jobs back after WORKER_DEAD_AFTER_MS.
 */
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { spawnProc, exited } = require('./http');
const { benchTenantsFile } = require('./support');

const root = join(__dirname, '..', '..');

async function poll(fn, timeoutMs, label) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`recovery: ${label} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function recoveryFigures({ url, tries, stack }) {
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const queueName = `ay-rec-${tag}`;
  const api = await stack.api({ prefix, queueName });
  const dir = mkdtempSync(join(tmpdir(), 'ay-bench-rec-'));
  const env = { REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, WORKSPACE_DIR: dir, WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info', TENANTS_FILE: benchTenantsFile(dir) };
  const workers = [];
  const get = (path) => fetch(`${api.base}${path}`, { headers: api.headers }).then((r) => r.json());
  const results = [];
  try {
    for (let t = 0; t < tries; t++) {
      while (workers.length < 2) workers.push(spawnProc(join(root, 'apps', 'worker', 'dist', 'main.js'), env));
      // Each has beaten for longer than the dead-after time, as long-running workers have.
      await poll(async () => (await get('/agent/workers')).workers.filter((w) => workers.some((p) => p.pid === w.pid)).length === 2, 20_000, 'both workers registered');
      await new Promise((r) => setTimeout(r, 6000));
      const created = await api.post({
        action: 'create', start: true,
        steps: [{ id: 'first', tool: 'log', args: { message: 'once' } }, { id: 'long', tool: 'wait', args: { seconds: 2 }, needs: ['first'] }],
      });
      const runId = created.run_id;
      await poll(async () => (await get(`/agent/runs/${runId}`)).steps[1].status === 'running', 20_000, 'the wait step to run');
      const holder = await poll(async () => {
        const w = (await get('/agent/workers')).workers.find((x) => x.active_runs > 0 && workers.some((p) => p.pid === x.pid));
        return w && workers.find((p) => p.pid === w.pid);
      }, 10_000, 'the holding worker to show');
      holder.kill('SIGKILL');
      const killedAt = performance.now();
      await exited(holder);
      workers.splice(workers.indexOf(holder), 1);
      await poll(async () => (await get(`/agent/runs/${runId}`)).steps[1].attempts >= 2, 60_000, 'the step to restart');
      const restarted = performance.now() - killedAt;
      const run = await poll(async () => {
        const r = await get(`/agent/runs/${runId}`);
        return ['succeeded', 'dead_lettered', 'cancelled'].includes(r.status) && r;
      }, 60_000, 'the run to finish');
      results.push({ kill_to_step_restarted_ms: Math.round(restarted), kill_to_run_done_ms: Math.round(performance.now() - killedAt), status: run.status, first_step_attempts: run.steps[0].attempts });
    }
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    await api.deps.queue.queue.obliterate({ force: true }).catch(() => undefined);
    await api.close();
    rmSync(dir, { recursive: true, force: true });
    await stack.cleanup(prefix);
  }
  const restart = results.map((r) => r.kill_to_step_restarted_ms);
  return { tries: results, worst_kill_to_step_restarted_ms: Math.max(...restart), worst_kill_to_run_done_ms: Math.max(...results.map((r) => r.kill_to_run_done_ms)) };
}

module.exports = { recoveryFigures };
