import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { approvalNeeded } from '@agentyard/agent';
import { AgentyardError, NotFoundError, parseOrThrow } from '@agentyard/core';
import { normaliseListPrefix } from '@agentyard/workspace';
import type { Invocation } from '@agentyard/runs';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { checkArgsSize, DEFAULT_STEP_ARGS_BYTES } from '../http/edge';

const hex16 = () => randomBytes(8).toString('hex');
const SESSION_ID = /^session-[A-Za-z0-9_-]{1,64}$/;
// Short sessions are allowed (scripts, tests); the sweeper closes them within one reconcile interval.
const MIN_LIFETIME_S = 1;
const MAX_LIFETIME_S = 7 * 24 * 3600;

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

/** Arguments that name workspace paths: checked against the session's allowed_paths. */
const PATH_ARGS = ['path', 'prefix', 'cwd'] as const;

export class ApprovalRequiredError extends AgentyardError {
  constructor(tool: string, mode: string) {
    super('approval_required', `${tool} needs approval in this session (approval: ${mode}); invoke again with "approved": true`, { status: 428 });
  }
}

export class PolicyDeniedError extends AgentyardError {
  constructor(message: string, path: string) {
    super('policy_denied', message, { status: 403, details: [{ path, message }] });
  }
}

const within = (p: string, allowed: string) => allowed === '' || p === allowed || p.startsWith(`${allowed}/`);

/** Sessions: open one, list its tools, invoke them one by one, close it. Tools run in workers. */
export function sessionsRouter(deps: ApiDeps): Router {
  const r = Router();
  const toolsByName = () => new Map(deps.tools.catalog().map((t) => [t.name, t]));

  r.post('/v1/sessions', async (req, res) => {
    const body = parseOrThrow(SessionCreateRequest, req.body ?? {});
    const allowed = body.allowed_paths?.map((p, i) => normaliseListPrefix(p, `allowed_paths[${i}]`));
    const session = await deps.sessions.create(
      authOf(res).tenant,
      body.session_id ?? `session-${hex16()}`,
      { workspace_id: body.workspace_id, approval: body.approval, metadata: body.metadata, ...(allowed ? { allowed_paths: allowed } : {}) },
      body.expires_in_seconds,
    );
    res.status(201).json({ session });
  });
  r.get('/v1/sessions/:id', async (req, res) => {
    res.json({ session: await deps.sessions.get(authOf(res).tenant, req.params.id) });
  });
  r.delete('/v1/sessions/:id', async (req, res) => {
    await deps.sessions.close(authOf(res).tenant, req.params.id);
    res.json({ closed: true });
  });
  r.get('/v1/sessions/:id/tools', async (req, res) => {
    await deps.sessions.get(authOf(res).tenant, req.params.id);
    res.json({ tools: deps.tools.catalog() });
  });

  r.post('/v1/sessions/:id/tools/:tool/invoke', async (req, res) => {
    const tenant = authOf(res).tenant;
    const body = parseOrThrow(InvokeRequest, req.body ?? {});
    checkArgsSize(body.args, deps.stepArgsLimitBytes ?? DEFAULT_STEP_ARGS_BYTES, 'args');
    const header = req.get('x-correlation-id');
    const correlationId = body.correlation_id ?? (header !== undefined ? parseOrThrow(InvokeRequest.shape.correlation_id, header, 'X-Correlation-Id') : undefined);
    const session = await deps.sessions.get(tenant, req.params.id);
    const name = req.params.tool;
    const args = deps.tools.validate(name, body.args, { tool: 'tool', args: 'args' }) as Record<string, unknown>;
    const tool = deps.tools.get(name)!;
    const entry = toolsByName().get(name)!;
    if (session.allowed_paths) {
      if (entry.scope !== 'workspace') {
        throw new PolicyDeniedError(`${name} reaches the whole workspace, and this session allows only ${session.allowed_paths.join(', ')}`, 'tool');
      }
      for (const a of PATH_ARGS) {
        if (typeof args[a] !== 'string') continue;
        const p = normaliseListPrefix(args[a], `args.${a}`);
        if (!session.allowed_paths.some((allowed) => within(p, allowed))) {
          throw new PolicyDeniedError(`args.${a}: "${p}" is outside this session's allowed_paths (${session.allowed_paths.join(', ')})`, `args.${a}`);
        }
      }
    }
    if (approvalNeeded(tool, session.approval) && !body.approved) throw new ApprovalRequiredError(name, session.approval);
    const { invocationId, reserved } = await deps.sessions.reserve(tenant, session.id, {
      id: `inv-${hex16()}`,
      tool_name: name,
      args,
      ...(correlationId !== undefined ? { correlation_id: correlationId } : {}),
    });
    // Only the request that reserved the id enqueues; the job id is the invocation id anyway.
    if (reserved) await deps.invocations.enqueue(invocationId);
    if (req.query.wait === 'false') {
      res.status(202).json({ invocation: await deps.sessions.invocationForTenant(tenant, invocationId) });
      return;
    }
    const done = await waitForEnd(deps, tenant, invocationId, tool.timeout_s * 1000);
    if (!done) {
      throw new AgentyardError('timeout', `invocation ${invocationId} did not finish within ${tool.timeout_s}s; poll GET /v1/invocations/${invocationId}`, {
        status: 504,
        retryable: true,
        details: [{ path: 'invocation_id', message: invocationId }],
      });
    }
    res.json({ invocation: view(done) });
  });

  r.get('/v1/invocations/:id', async (req, res) => {
    res.json({ invocation: view(await deps.sessions.invocationForTenant(authOf(res).tenant, req.params.id)) });
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
