import express, { type Express, type RequestHandler } from 'express';
import type { ApiDeps } from './deps';
import { createAuth } from './http/auth';
import { accessLog } from './http/access-log';
import { createAuthenticator, type Scope } from './http/authenticator';
import { createStreamAuth, createStreamTickets } from './http/stream-ticket';
import { streamTokenRouter } from './routes/stream-token';
import { createErrorHandler, notFoundRoute } from './http/error-handler';
import { bodyGuard, DEFAULT_STEP_ARGS_BYTES, edgeHeaders } from './http/edge';
import { limitedAuth } from './http/rate-limit';
import { createRunCommands } from './run-commands';
import { adminRouter, catalogRouter } from './routes/catalog';
import { executeRouter } from './routes/execute';
import { filesRouter } from './routes/files';
import { healthRouter } from './routes/health';
import { runsRouter } from './routes/runs';
import { sessionsRouter } from './routes/sessions';

export { redactUrl } from './http/access-log';

/** The scope each /agent route needs: reads (and a stream ticket) `runs:read`, everything else `runs:write`. */
const agentScope = (method: string, path: string): Scope =>
  method === 'GET' || method === 'HEAD' || /^\/runs\/[^/]+\/stream-token\/?$/.test(path) ? 'runs:read' : 'runs:write';

/** Builds the Express app from its dependencies; no listening, no signals (main.ts does that). */
export function buildApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No route answers conditional requests, yet Express hashed every body for an ETag, the
  // 201 of each create included (a SHA-1 per request in the create+start profile).
  app.set('etag', false);
  // Only TRUST_PROXY decides whose X-Forwarded-For counts (the failed-auth limit keys on req.ip).
  app.set('trust proxy', deps.trustProxy ?? false);
  const commands = createRunCommands(deps);
  const tickets = deps.streamTickets ?? createStreamTickets({ redis: deps.redis, prefix: deps.keyPrefix ?? 'ay:', ttlS: 60 });
  const auth = createAuth(createAuthenticator({ apiKeys: deps.apiKeys, ...(deps.jwt ? { jwt: deps.jwt } : {}) }), deps.metrics.authRejections);

  app.use(accessLog(deps.logger, { ignore: (url) => url === '/healthz' || url === '/metrics' }));
  app.use(httpMetrics(deps));
  app.use(edgeHeaders(deps.corsOrigins ?? []));
  app.use(healthRouter(deps));

  const json = express.json({ limit: deps.bodyLimit ?? '4mb', strict: false });
  // The SSE route takes its own auth (a query token is allowed there); every other
  // /agent route needs the Authorization header. Every authenticated request then counts
  // against its tenant's rate limit, and failed ones against their address (limitedAuth).
  const limits = { rateLimit: deps.rateLimit, authFailureLimit: deps.authFailureLimit };
  const limited = (authenticate: RequestHandler): RequestHandler => limitedAuth(authenticate, limits);
  // Failed authentications are limited per address: its key is found before any credential is
  // checked, and its 401s counted as they end.
  if (deps.authFailureLimit) app.use(AUTHENTICATED, deps.authFailureLimit.middleware);
  const headerAuth = limited(auth(agentScope));
  app.use('/agent', (req, res, next) => (isSse(req.path) ? next() : headerAuth(req, res, next)));
  app.use('/admin', limited(auth('admin')));
  // Sessions invoke tools: they need sessions:write, whatever the method.
  app.use('/v1', limited(auth('sessions:write')));
  // Bodies are parsed only here, behind auth: an unauthenticated (or unrouted) body is never read.
  // The SSE route authenticates inside its router, so its (pointless) body is not read either.
  app.use(AUTHENTICATED, (req, res, next) => (isSse(req.path) ? next() : json(req, res, next)), bodyGuard);
  app.use(executeRouter(commands, deps.metrics, { stepArgsBytes: deps.stepArgsLimitBytes ?? DEFAULT_STEP_ARGS_BYTES }));
  app.use(runsRouter(deps, limited(createStreamAuth(tickets, auth('runs:read'), deps.metrics))));
  app.use(streamTokenRouter(deps, tickets));
  app.use(filesRouter(deps));
  app.use(sessionsRouter(deps));
  app.use(catalogRouter(deps));
  app.use(adminRouter(deps, commands));
  app.use(notFoundRoute);
  app.use(createErrorHandler(deps.logger, (code, status) => deps.metrics.apiErrors.inc({ code, status: String(status) })));
  return app;
}

/** Every route prefix behind authentication; nothing else takes a body. */
const AUTHENTICATED = ['/agent', '/admin', '/v1'];

const isSse = (path: string) => /^\/logs\/[^/]+\/stream\/?$/.test(path);

function httpMetrics(deps: ApiDeps): RequestHandler {
  const { httpDuration, httpRequests } = deps.metrics;
  return (req, res, next) => {
    // A start time rather than prom-client's startTimer(), whose closure would be held by the
    // response as long as it lives: hours for an SSE stream.
    const started = performance.now();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      httpRequests.inc({ route, method: req.method, status: String(res.statusCode) });
      httpDuration.observe({ route, method: req.method }, (performance.now() - started) / 1000);
    });
    next();
  };
}
