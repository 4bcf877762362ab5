/**
 * The API in the bench's own process, on a Redis the caller names, one per key prefix and
 * queue name, plus cleanup of a prefix's keys. For sections where the API is only the way
 * runs get in (drain fill); where the API itself is measured it runs as its own process.
 */
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { requireFrom, benchTenantsFile } = require('./support');

const root = join(__dirname, '..', '..');
const apiDir = join(root, 'apps', 'api');
const TOKEN = 'tok_bench_12345';

/** The environment of a bench API (in this process or its own): production defaults otherwise. */
function benchEnv(url, prefix, queueName, extra = {}) {
  return {
    REDIS_URL: url, KEY_PREFIX: prefix, QUEUE_NAME: queueName, API_KEYS: `bench:${TOKEN}:admin`,
    // Both limits on, as in production (each costs Redis commands per request), but high
    // enough that the bench itself is never refused (1,000 SSE clients connect at once).
    RATE_LIMIT_PER_MIN: '1000000',
    AUTH_FAILURES_PER_MIN: '1000000',
    // One tenant as a single-tenant deployment sets it up (fair-share caps above the bench's load).
    TENANTS_FILE: benchTenantsFile(),
    ...extra,
  };
}

function createApiStack(url) {
  const Redis = requireFrom(apiDir, 'ioredis');
  const { buildApp } = require(join(apiDir, 'dist', 'app.js'));
  const { createApiDeps } = require(join(apiDir, 'dist', 'compose.js'));
  const { createLogger } = requireFrom(apiDir, '@agentyard/observability');
  const { createWorkspace } = requireFrom(apiDir, '@agentyard/workspace');
  const { loadConfig } = requireFrom(apiDir, '@agentyard/config');
  const open = [];
  return {
    token: TOKEN,
    async api({ prefix, queueName }) {
      const dir = mkdtempSync(join(tmpdir(), 'ay-bench-api-'));
      const logger = createLogger({ level: 'silent', name: 'bench' });
      const deps = await createApiDeps(loadConfig(benchEnv(url, prefix, queueName)), { logger, workspace: createWorkspace({ driver: 'fs', dir }), version: 'bench' });
      const server = buildApp(deps).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const base = `http://127.0.0.1:${server.address().port}`;
      const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
      const post = (body) =>
        fetch(`${base}/agent/execute`, { method: 'POST', headers, body: JSON.stringify(body) }).then(async (r) => {
          const j = await r.json();
          if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(j)}`);
          return j;
        });
      const handle = {
        base, headers, post, deps,
        async close() {
          server.closeAllConnections();
          server.close();
          await deps.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      open.push(handle);
      return handle;
    },
    async cleanup(prefix) {
      const r = new Redis(url);
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      await r.quit();
    },
    async close() {
      for (const h of open.splice(0)) await h.close().catch(() => undefined);
    },
  };
}

/**
 * NODE_OPTIONS for a bench's API process: BENCH_API_PROF=DIR profiles it under --cpu-prof,
 * BENCH_API_NODE_OPTIONS adds flags of one's own (an experiment: `--trace-gc`, a heap flag).
 */
function apiNodeOptions() {
  const opts = [
    ...(process.env.BENCH_API_PROF ? [`--cpu-prof --cpu-prof-dir=${process.env.BENCH_API_PROF}`] : []),
    ...(process.env.BENCH_API_NODE_OPTIONS ? [process.env.BENCH_API_NODE_OPTIONS] : []),
  ];
  return opts.length > 0 ? { NODE_OPTIONS: opts.join(' ') } : {};
}

module.exports = { createApiStack, benchEnv, apiNodeOptions, TOKEN };
