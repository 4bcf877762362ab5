import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { AgentyardError, InvalidStateError, NotFoundError, parseOrThrow } from '@agentyard/core';
import { normaliseListPrefix } from '@agentyard/workspace';
import { createSessionArchiver, createSessionReader, type Invocation, type InvocationDraft } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { invocationDenial, limitDenial, type InvocationDeniedError } from '../sessions/invocation-policy';
import { checkArgsSize, DEFAULT_STEP_ARGS_BYTES } from '../http/edge';

const hex16 = () => randomBytes(8).toString('hex');
const SESSION_ID = /^session-[A-Za-z0-9_-]{1,64}$/;
// Short sessions are allowed (scripts, tests); the sweeper closes them within one reconcile interval.
const MIN_LIFETIME_S = 1;
const MAX_LIFETIME_S = 7 * 24 * 3600;
/** The worker aborts a tool at its timeout and then writes the record: the API waits a little longer, so it reads why. */
const WAIT_GRACE_MS = 5000;
/** Error codes of an invocation that ran past its timeout (the worker's own, the executor's): answered 504. */
const TIMEOUT_CODES = new Set(['timeout', 'exec_timeout']);
/** Error codes of an invocation a workspace cap of the tenant refused: answered with the cap's status, naming it. */
const CAP_CODES: Record<string, { status: number; cap: string }> = {
  cap_reached: { status: 429, cap: 'max_workspace_files' },
  payload_too_large: { status: 413, cap: 'max_workspace_bytes' },
};

/** Strict: a `tenant` or `principal` in the body is a 400, never trusted (the seed trusted it). */
export const SessionCreateRequest = z.strictObject({
  session_id: z.string().regex(SESSION_ID, 'session ids are "session-" and 1-64 letters, digits, _ and -').optional(),
  workspace_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'workspace ids are 1-64 letters, digits, _ and -').default('default'),
  allowed_paths: z.array(z.string().max(1024)).max(100).optional(),
  approval: z.enum(['never', 'writes', 'all']).default('writes'),
  metadata: z.record(z.string(), z.unknown()).default({}),
  expires_in_seconds: z.int().min(MIN_LIFETIME_S).max(MAX_LIFETIME_S).default(3600),
});
export type SessionCreateRequest = z.infer<typeof SessionCreateRequest>;

export const InvokeRequest = z.strictObject({
  args: z.record(z.string(), z.unknown()).default({}),
  approved: z.boolean().default(false),
  correlation_id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1-128 letters, digits and ._:-').optional(),
});

/** Sessions: open one, list its tools, invoke them one by one, close it. Tools run in workers. */
export function sessionsRouter(deps: ApiDeps): Router {
  const r = Router();
  const toolsByName = new Map(deps.tools.catalog().map((t) => [t.name, t]));
  const archive = deps.sessionArchive;
  const reader = archive ? createSessionReader({ store: deps.sessions, archive }) : undefined;
  const readSession = (tenant: string, id: string) => (reader ? reader.session(tenant, id) : deps.sessions.get(tenant, id));
  const readInvocation = (tenant: string, id: string) => (reader ? reader.invocation(tenant, id) : deps.sessions.invocationForTenant(tenant, id));
  // A storage hiccup is logged and retried by the workers, never the request's failure.
  const archiver = archive
    ? createSessionArchiver({
        store: deps.sessions,
        archive,
        onError: (what, err) => deps.logger.warn({ err: (err as Error).message }, `could not archive ${what} into its workspace; the workers retry`),
      })
    : undefined;

  r.post('/v1/sessions', async (req, res) => {
    const body = parseOrThrow(SessionCreateRequest, req.body ?? {});
    const allowed = body.allowed_paths?.map((p, i) => normaliseListPrefix(p, `allowed_paths[${i}]`));
    const session = await deps.sessions.create(
      authOf(res).tenant,
      body.session_id ?? `session-${hex16()}`,
      { workspace_id: body.workspace_id, approval: body.approval, metadata: body.metadata, ...(allowed ? { allowed_paths: allowed } : {}) },
      body.expires_in_seconds,
    );
    await archiver?.session(session);
    res.status(201).json({ session });
  });
  r.get('/v1/sessions/:id', async (req, res) => {
    res.json({ session: await readSession(authOf(res).tenant, req.params.id) });
  });
  r.delete('/v1/sessions/:id', async (req, res) => {
    const closed = await deps.sessions.close(authOf(res).tenant, req.params.id);
    await archiver?.session(closed);
    res.json({ closed: true });
  });
  r.get('/v1/sessions/:id/tools', async (req, res) => {
    await deps.sessions.get(authOf(res).tenant, req.params.id);
    res.json({ tools: deps.tools.catalog() });
  });

  r.post('/v1/sessions/:id/tools/:tool/invoke', async (req, res) => {
    const principal = authOf(res);
    const tenant = principal.tenant;
    const body = parseOrThrow(InvokeRequest, req.body ?? {});
    checkArgsSize(body.args, deps.stepArgsLimitBytes ?? DEFAULT_STEP_ARGS_BYTES, 'args');
    const header = req.get('x-correlation-id');
    const correlationId = body.correlation_id ?? (header !== undefined ? parseOrThrow(InvokeRequest.shape.correlation_id, header, 'X-Correlation-Id') : undefined);
    const session = await deps.sessions.get(tenant, req.params.id);
    const name = req.params.tool;
    const args = deps.tools.validate(name, body.args, { tool: 'tool', args: 'args' }) as Record<string, unknown>;
    const tool = deps.tools.get(name)!;
    const draft: InvocationDraft = { id: `inv-${hex16()}`, tool_name: name, args, ...(correlationId !== undefined ? { correlation_id: correlationId } : {}) };

    /** Records the refusal (status denied), counts it, and hands the record out with the error. */
    const deny = async (err: InvocationDeniedError): Promise<never> => {
      const inv = await deps.sessions.deny(tenant, session.id, draft, err.toData());
      deps.metrics.invocations.inc({ tool: name, status: 'denied' });
      deps.metrics.invocationDenials.inc({ tool: name, reason: err.reason });
      await archiver?.invocation(inv, session.workspace_id);
      err.invocation = view(inv);
      throw err;
    };

    const denial = invocationDenial({ tool, entry: toolsByName.get(name)!, session, args, approved: body.approved, operator: principal.scopes.has('admin') });
    // A closed session refuses everything as 409 (reserve says so too); only an open one records denials.
    if (denial && session.status !== 'open') throw new InvalidStateError(`session ${session.id} is ${session.status}; open a new session`);
    if (denial) await deny(denial);
    const reservation = await deps.sessions.reserve(tenant, session.id, draft);
    if ('limited' in reservation) {
      return deny(limitDenial(reservation.limited, reservation.retryAfterS, deps.sessionLimits ?? { rate: 0, concurrency: 0 }));
    }
    const { invocationId, reserved } = reservation;
    // Only the request that reserved the id enqueues; the job id is the invocation id anyway.
    if (reserved) await deps.invocations.enqueue(invocationId);
    if (req.query.wait === 'false') {
      res.status(202).json({ invocation: view(await deps.sessions.invocationForTenant(tenant, invocationId)) });
      return;
    }
    const done = await waitForEnd(deps, tenant, invocationId, tool.timeout_s * 1000 + WAIT_GRACE_MS);
    if (!done || (done.status === 'failed' && TIMEOUT_CODES.has(done.error?.code ?? ''))) {
      const err = new AgentyardError(
        'timeout',
        done
          ? `invocation ${invocationId} ran past its timeout: ${done.error!.message}`
          : `invocation ${invocationId} did not finish within ${tool.timeout_s}s; poll GET /v1/invocations/${invocationId}`,
        { status: 504, retryable: !done, details: [{ path: 'invocation_id', message: invocationId }] },
      ) as AgentyardError & { invocation?: unknown };
      err.invocation = view(done ?? (await deps.sessions.invocationForTenant(tenant, invocationId)));
      throw err;
    }
    const capped = done.status === 'failed' ? CAP_CODES[done.error?.code ?? ''] : undefined;
    if (capped) {
      const message = done.error!.message;
      const err = new AgentyardError(done.error!.code, message, {
        status: capped.status,
        retryable: false,
        ...(capped.status === 429 ? { retryAfterS: 60 } : {}),
        details: [{ path: capped.cap, message }, { path: 'invocation_id', message: invocationId }],
      }) as AgentyardError & { invocation?: unknown };
      err.invocation = view(done);
      throw err;
    }
    res.json({ invocation: view(done) });
  });

  r.get('/v1/invocations/:id', async (req, res) => {
    res.json({ invocation: view(await readInvocation(authOf(res).tenant, req.params.id)) });
  });
  r.get('/v1/invocations/:id/logs', async (req, res) => {
    const inv = await readInvocation(authOf(res).tenant, req.params.id);
    res.json({ invocation_id: inv.id, status: inv.status, logs: inv.logs });
  });
  r.get('/v1/invocations/:id/artifacts', async (req, res) => {
    const inv = await readInvocation(authOf(res).tenant, req.params.id);
    res.json({ invocation_id: inv.id, status: inv.status, artifacts: inv.artifacts });
  });
  return r;
}

const view = ({ tenant: _tenant, ...inv }: Invocation) => inv;

/**
 * Polls the record until the worker finished it: a read of one hash every 25-200 ms, cheap
 * next to a tool run, and it survives a pub/sub message lost to a reconnect.
 */
async function waitForEnd(deps: ApiDeps, tenant: string, id: string, timeoutMs: number): Promise<Invocation | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 25; ; pause = Math.min(pause * 2, 200)) {
    const inv = await deps.sessions.invocationForTenant(tenant, id).catch((e: unknown) => {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    });
    if (inv && inv.status !== 'running') return inv;
    if (Date.now() + pause > deadline) return undefined;
    await new Promise((r) => setTimeout(r, pause));
  }
}
