import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type Express } from 'express';
import { UnauthorizedError } from '@agentyard/core';
import type { ApiDeps } from '../deps';
import { createErrorHandler, notFoundRoute } from '../http/error-handler';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `GET /metrics`, Prometheus text. The API's metrics cover every tenant (queue depth, traffic
 * per route), so with METRICS_TOKEN set a scraper must send `Authorization: Bearer <it>`;
 * the comparison is on digests in constant time, so timing does not reveal the token.
 */
export function metricsRouter(deps: Pick<ApiDeps, 'registry' | 'metricsToken'>): Router {
  const r = Router();
  const expected = deps.metricsToken === undefined ? undefined : digest(deps.metricsToken);
  r.get('/metrics', async (req, res) => {
    if (expected) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
      if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
        res.set('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new UnauthorizedError('/metrics needs Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    res.set('Content-Type', deps.registry.contentType);
    res.send(await deps.registry.metrics());
  });
  return r;
}

/** The app of API_METRICS_PORT: /metrics and nothing else, for a scrape-only network. */
export function buildMetricsApp(deps: Pick<ApiDeps, 'registry' | 'metricsToken' | 'logger'>): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(metricsRouter(deps));
  app.use(notFoundRoute);
  app.use(createErrorHandler(deps.logger));
  return app;
}
