import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { answerClientError, type Registry } from '@agentyard/observability';

/** Probes and scrapes send a line and a few headers; anything larger is refused with 431. */
const MAX_HEADER_BYTES = 8 * 1024;

/**
 * On every answer. Written out rather than helmet's: the port serves three machine-read
 * endpoints, never a page, so what matters is that a browser pointed at it can neither sniff,
 * run, frame nor cache anything, and that nothing leaks through a referrer.
 */
const HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/**
 * The worker serves no API, only what operators and Kubernetes probe: /healthz (answers
 * while the event loop turns), /readyz (Redis and the workspace answer) and /metrics, to GET
 * and HEAD (anything else is 405). Errors carry the API's JSON envelope, including the ones
 * Node's parser answers itself (a malformed request, oversized headers).
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
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const send = (status: number, body: unknown, type = 'application/json', extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...HEADERS, 'Content-Type': type, ...extra });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(405, { error: { code: 'method_not_allowed', message: `${req.method} is not served here; the health port answers GET and HEAD` } }, 'application/json', { Allow: 'GET, HEAD' });
    }
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
    send(404, { error: { code: 'not_found', message: `${req.method} ${path} not found; the health port serves /healthz, /readyz and /metrics` } });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, MAX_HEADER_BYTES, ''));
  return server;
}
