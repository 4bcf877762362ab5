import express, { type Express, type RequestHandler } from 'express';
import pinoHttp from 'pino-http';
import type { ApiDeps } from './deps';
import { createAuth } from './http/auth';
import { createErrorHandler, notFoundRoute } from './http/error-handler';
import { createRunCommands } from './run-commands';
import { adminRouter, catalogRouter } from './routes/catalog';
import { executeRouter } from './routes/execute';
import { filesRouter } from './routes/files';
import { healthRouter } from './routes/health';
import { runsRouter } from './routes/runs';
import { sessionsRouter } from './routes/sessions';

/** Query parameters that carry credentials; never logged. */
const SECRET_QUERY = /([?&](?:access_token|token)=)[^&]*/gi;

/** Builds the Express app from its dependencies; no listening, no signals (main.ts does that). */
export function buildApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const commands = createRunCommands(deps);
  const auth = createAuth(deps.apiKeys);

  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url.replace(SECRET_QUERY, '$1[redacted]'),
        }),
      },
    }),
  );
  app.use(httpMetrics(deps));
  app.use(healthRouter(deps));

  const json = express.json({ limit: deps.bodyLimit ?? '4mb', strict: false });
  // The SSE route takes its own auth (a query token is allowed there); every other
  // /agent route needs the Authorization header.
  // Every authenticated request then counts against its tenant's rate limit.
  const limited = (authenticate: RequestHandler): RequestHandler => {
    const limit = deps.rateLimit;
    if (!limit) return authenticate;
    return (req, res, next) => authenticate(req, res, (err?: unknown) => (err ? next(err) : limit(req, res, next)));
  };
  const headerAuth = limited(auth());
  app.use('/agent', (req, res, next) => (isSse(req.path) ? next() : headerAuth(req, res, next)));
  app.use('/admin', limited(auth({ admin: true })));
  app.use('/v1', headerAuth);
  app.use(json);
  app.use(executeRouter(commands, deps.metrics));
  app.use(runsRouter(deps, limited(auth({ allowQueryToken: true }))));
  app.use(filesRouter(deps));
  app.use(sessionsRouter(deps));
  app.use(catalogRouter(deps));
  app.use(adminRouter(deps, commands));
  app.use(notFoundRoute);
  app.use(createErrorHandler(deps.logger));
  return app;
}

const isSse = (path: string) => /^\/logs\/[^/]+\/stream\/?$/.test(path);

function httpMetrics(deps: ApiDeps): RequestHandler {
  return (req, res, next) => {
    const end = deps.metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      deps.metrics.httpRequests.inc({ route, method: req.method, status: String(res.statusCode) });
      end({ route, method: req.method });
    });
    next();
  };
}
