/**
 * A whole stack for the retention figures: its own private redis-server (so used_memory
 * and DBSIZE are ours alone), the API in this process and one worker process, both with
 * the given RUN_RETENTION_S and the worker with the given RECONCILE_S.
 */
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { startRedis, stopRedis, requireFrom, collectEnds, spawnNode, stopChild, benchTenantsFile } = require('./support');
const { benchEnv } = require('./api-stack');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const workerDir = join(root, 'apps', 'worker');

async function startStack({ retentionS, reconcileS, concurrency }) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const { buildApp } = require(join(apiDir, 'dist', 'app.js'));
  const { createApiDeps } = require(join(apiDir, 'dist', 'compose.js'));
  const { createLogger } = requireFrom(apiDir, '@agentyard/observability');
  const { createWorkspace } = requireFrom(apiDir, '@agentyard/workspace');

  const redisInfo = await startRedis();
  if (!redisInfo.own) throw new Error('the retention figures need a private redis-server (used_memory must be ours alone)');
  const url = redisInfo.url;
  const tag = randomBytes(3).toString('hex');
  const prefix = `aybench:${tag}:`;
  const queueName = `ay-bench-${tag}`;
  const token = 'tok_bench_12345';
  const dir = mkdtempSync(join(tmpdir(), 'ay-bench-ret-'));
  const { loadConfig } = requireFrom(apiDir, '@agentyard/config');
  const config = loadConfig(benchEnv(url, prefix, queueName, { RUN_RETENTION_S: String(retentionS) }));
  const logger = createLogger({ level: 'silent', name: 'bench' });
  // One workspace for both, as in a deployment: the API answers expired runs from the archives the worker wrote.
  const workspace = createWorkspace({ driver: 'fs', dir });
  const deps = await createApiDeps(config, { logger, workspace, version: 'bench' });
  const server = buildApp(deps).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const apiUrl = `http://127.0.0.1:${server.address().port}`;
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const post = (body) => fetch(`${apiUrl}/agent/execute`, { method: 'POST', headers, body: JSON.stringify(body) }).then(async (r) => {
    const j = await r.json();
    if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(j)}`);
    return j;
  });
  const worker = spawnNode(join(workerDir, 'dist', 'main.js'), {
    REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, WORKER_CONCURRENCY: String(concurrency),
    WORKSPACE_DIR: dir, WORKER_METRICS_PORT: '0', LOG_LEVEL: 'silent', TENANTS_FILE: benchTenantsFile(dir),
    RUN_RETENTION_S: String(retentionS), RECONCILE_S: String(reconcileS),
  });
  const ends = await collectEnds(Redis, url, prefix);
  const redis = new Redis(url);
  return {
    url, prefix, queueName, tenant: 'bench', redis, post, ends,
    async close() {
      await stopChild(worker);
      await ends.close();
      server.closeAllConnections();
      server.close();
      await deps.close();
      await redis.quit();
      await stopRedis(redisInfo);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startStack };
