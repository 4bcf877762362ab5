import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadTenantsFile, type Config, type TenantPolicies } from '@agentyard/config';
import { createLogger, describeListenError, listen } from '@agentyard/observability';
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
  let metricsPort: number;
  try {
    metricsPort = await listen(health, config.WORKER_METRICS_PORT);
  } catch (err) {
    // A second worker on one host is the usual cause: one line, no stack, and the
    // connections opened above closed, so the process exits at once.
    process.stderr.write(`agentyard-worker: ${describeListenError(err, config.WORKER_METRICS_PORT, 'WORKER_METRICS_PORT', '(another worker on this host?): give each worker its own port, or 0 for any free port')}\n`);
    await runtime.shutdown(0);
    process.exit(1);
  }
  logger.info({ requested: config.WORKER_METRICS_PORT, port: metricsPort }, 'worker health and metrics listening');
  void runtime.worker.run();
  runtime.heartbeat.start();
  logger.info({ concurrency: config.WORKER_CONCURRENCY, queue: config.QUEUE_NAME, metricsPort }, 'agentyard worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = config.WORKER_DRAIN_S * 1000;
    logger.info({ signal, graceS: config.WORKER_DRAIN_S }, 'draining: no new runs; active runs finish or are handed back');
    // runtime.shutdown bounds itself (grace + ~3 s); this is the backstop for whatever it
    // does not know about, so an orchestrator or a CI cleanup never waits on us for long.
    setTimeout(() => {
      logger.error({ overdueS: 4.5 }, 'shutdown overran its bound; exiting with what is left open');
      process.exit(1);
    }, graceMs + 4500).unref();
    const { notHandedBack } = await runtime.shutdown(graceMs);
    health.closeAllConnections();
    health.close();
    logger.info({ notHandedBack: notHandedBack.length }, 'worker stopped');
    process.exit(notHandedBack.length ? 1 : 0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`agentyard-worker failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
