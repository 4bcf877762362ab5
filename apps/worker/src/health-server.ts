import { createServer, type Server } from 'node:http';
import type { Registry } from '@agentyard/observability';

/**
 * The worker serves no API, only what operators and Kubernetes probe: /healthz (answers
 * while the event loop turns), /readyz (Redis and the workspace answer) and /metrics.
 */
export function createHealthServer(opts: {
  registry: Registry;
  version: string;
  ready: () => Promise<Record<string, string>>;
  /** Liveness beyond "the event loop answers": false fails /healthz with 503. */
  live?: () => boolean;
  /** Informational state shown on /readyz that does not decide readiness (breakers). */
  details?: () => Record<string, unknown>;
}): Server {
  return createServer((req, res) => {
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      if (opts.live && !opts.live()) return send(503, { status: 'unhealthy', reason: 'heartbeats to Redis have stopped succeeding', version: opts.version });
      return send(200, { status: 'ok', version: opts.version });
    }
    if (path === '/readyz') {
      opts.ready().then(
        (checks) => {
          const down = Object.entries(checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
          const details = opts.details?.() ?? {};
          send(down.length ? 503 : 200, { status: down.length ? 'unavailable' : 'ready', checks, ...(down.length ? { down } : {}), ...details });
        },
        () => send(503, { status: 'unavailable' }),
      );
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, text, opts.registry.contentType),
        (err: unknown) => send(500, { error: (err as Error).message }),
      );
      return;
    }
    send(404, { error: { code: 'not_found', message: `${req.method} ${path} not found` } });
  });
}
