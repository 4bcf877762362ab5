import { ConfigError, loadConfig, loadTenantsFile, type Config, type TenantPolicies } from '@agentyard/config';
import { createLogger } from '@agentyard/observability';
import { buildApp } from './app';
import { createApiDeps, workspaceFromConfig } from './compose';
import { trackInFlight } from './http/drain';
import { readVersion } from './version';

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
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'agentyard-api', secrets: config.secrets });
  const version = readVersion();
  const deps = await createApiDeps(config, { logger, workspace: workspaceFromConfig(config), version, policies });
  const app = buildApp(deps);
  const server = app.listen(config.API_PORT, () => {
    const addr = server.address();
    logger.info({ port: typeof addr === 'object' && addr ? addr.port : config.API_PORT, version }, 'agentyard api listening');
  });
  // SSE streams are long-lived; without these, a stuck client would hold shutdown open.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const requests = trackInFlight(server, (url) => /^\/agent\/logs\/[^/?]+\/stream\/?(\?|$)/.test(url));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: requests.inFlight(), graceS: config.API_DRAIN_S }, 'shutting down: no new connections; finishing requests in flight');
    const { unfinished } = await requests.drain(config.API_DRAIN_S * 1000);
    if (unfinished > 0) logger.warn({ unfinished }, 'drain grace period over; cut the requests still running');
    await deps.close();
    logger.info('api stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`agentyard-api failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
