import { ConfigError, loadConfig, loadTenantsFile, type Config, type TenantPolicies } from '@agentyard/config';
import { createLogger, describeListenError, listen } from '@agentyard/observability';
import { buildApp } from './app';
import { createApiDeps, workspaceFromConfig } from './compose';
import { trackInFlight } from './http/drain';
import { createApiServer } from './http/server';
import { buildMetricsApp } from './routes/metrics';
import { readVersion } from './version';

/** The access log is written in batches: a line reaches stdout within this many ms. */
const LOG_BATCH_MS = 100;

async function main(): Promise<void> {
  let config: Config;
  let policies: TenantPolicies;
  try {
    config = loadConfig(process.env, { requireApiKeys: true });
    policies = loadTenantsFile(config.TENANTS_FILE);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`agentyard-api: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'agentyard-api', secrets: config.secrets, batchMs: LOG_BATCH_MS });
  const version = readVersion();
  const deps = await createApiDeps(config, { logger, workspace: workspaceFromConfig(config), version, policies });
  const server = createApiServer(buildApp(deps), { maxHeaderBytes: config.API_MAX_HEADER_BYTES });
  let port: number;
  try {
    port = await listen(server, config.API_PORT);
  } catch (err) {
    // Express 5 would hand this error to a listen callback and keep running without a
    // socket; instead: one line naming the variable, connections closed, non-zero exit.
    process.stderr.write(`agentyard-api: ${describeListenError(err, config.API_PORT, 'API_PORT', 'by another process: stop it or set API_PORT to a free port')}\n`);
    await deps.close();
    process.exit(1);
  }
  logger.info({ port, version }, 'agentyard api listening');
  // Tenancy: /metrics on a port of its own when API_METRICS_PORT is set (not on API_PORT then).
  const metricsServer = config.API_METRICS_PORT === undefined ? undefined : createApiServer(buildMetricsApp(deps), { maxHeaderBytes: config.API_MAX_HEADER_BYTES });
  if (metricsServer && config.API_METRICS_PORT !== undefined) {
    try {
      logger.info({ port: await listen(metricsServer, config.API_METRICS_PORT) }, 'agentyard api metrics listening');
    } catch (err) {
      process.stderr.write(`agentyard-api: ${describeListenError(err, config.API_METRICS_PORT, 'API_METRICS_PORT', 'by another process: stop it or choose another port')}\n`);
      await deps.close();
      process.exit(1);
    }
  }
  // SSE streams are long-lived; without these, a stuck client would hold shutdown open.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const requests = trackInFlight(server, (url) => /^\/agent\/logs\/[^/?]+\/stream\/?(\?|$)/.test(url));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: requests.inFlight(), graceS: config.API_DRAIN_S }, 'shutting down: no new connections; finishing requests in flight');
    // deps.close bounds itself; this backstop covers anything it does not know about, so an
    // orchestrator or a CI cleanup never waits on us long past API_DRAIN_S.
    setTimeout(() => {
      logger.error('shutdown overran its bound; exiting with what is left open');
      process.exit(1);
    }, config.API_DRAIN_S * 1000 + 4500).unref();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    const { unfinished } = await requests.drain(config.API_DRAIN_S * 1000);
    if (unfinished > 0) logger.warn({ unfinished }, 'drain grace period over; cut the requests still running');
    const { unclosed } = await deps.close();
    logger.info({ unclosed: unclosed.length }, 'api stopped');
    process.exit(unclosed.length ? 1 : 0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`agentyard-api failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
