import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadTenantsFile, type Config, type TenantPolicies } from '@agentyard/config';
import { createLogger } from '@agentyard/observability';
import { workspaceFromSettings } from '@agentyard/workspace';
import { createWorkerRuntime } from './compose';
import { createHealthServer } from './health-server';

async function main(): Promise<void> {
  let config: Config;
  let policies: TenantPolicies;
  try {
    config = loadConfig(process.env);
    policies = loadTenantsFile(config.TENANTS_FILE);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`agentyard-worker: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'agentyard-worker', secrets: config.secrets });
  let version = '0.0.0';
  try {
    version = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // running from an unusual layout; the version is only informational
  }
  const runtime = await createWorkerRuntime(config, { logger, workspace: workspaceFromSettings(config), policies, version });
  const health = createHealthServer({ registry: runtime.registry, version, ready: runtime.ready, details: runtime.details, live: runtime.heartbeat.healthy });
  health.listen(config.WORKER_METRICS_PORT, () => {
    const addr = health.address();
    logger.info({ port: typeof addr === 'object' && addr ? addr.port : config.WORKER_METRICS_PORT }, 'worker health and metrics listening');
  });
  void runtime.worker.run();
  runtime.heartbeat.start();
  logger.info({ concurrency: config.WORKER_CONCURRENCY, queue: config.QUEUE_NAME, metricsPort: config.WORKER_METRICS_PORT }, 'agentyard worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceS: config.WORKER_DRAIN_S }, 'draining: no new runs; active runs finish or are handed back');
    await runtime.shutdown(config.WORKER_DRAIN_S * 1000);
    health.close();
    logger.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`agentyard-worker failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
