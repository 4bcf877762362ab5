import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { metricsRouter } from './metrics';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Liveness has no dependencies; readiness checks Redis and the workspace for real. /readyz
 * answers anyone (probes carry no token), so it names what is down and nothing more: the
 * error itself (which can hold hosts, absolute paths, bucket names) goes to the log only.
 */
export function healthRouter(deps: ApiDeps): Router {
  const r = Router();
  const timeout = deps.readyTimeoutMs ?? 2000;
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: deps.version });
  });
  r.get('/readyz', async (_req, res) => {
    const checks = await Promise.all(
      [
        ['redis', () => deps.redis.ping()],
        ['workspace', () => deps.workspace.ping()],
      ].map(async ([name, probe]) => {
        try {
          await withTimeout((probe as () => Promise<unknown>)(), timeout, name as string);
          return { name: name as string, ok: true };
        } catch (e) {
          deps.logger.warn({ dependency: name, err: (e as Error).message }, `readiness: ${name as string} is down`);
          return { name: name as string, ok: false };
        }
      }),
    );
    const down = checks.filter((c) => !c.ok).map((c) => c.name);
    res.status(down.length ? 503 : 200).json({
      status: down.length ? 'unavailable' : 'ready',
      ...(down.length ? { down } : {}),
      checks: Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : 'down'])),
    });
  });
  if (!deps.metricsOnOwnPort) r.use(metricsRouter(deps));
  return r;
}
