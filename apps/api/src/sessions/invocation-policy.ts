import type { ToolCatalogEntry, ToolDefinition } from '@agentyard/agent';
import { approvalNeeded } from '@agentyard/agent';
import { AgentyardError } from '@agentyard/core';
import type { InvocationDenialReason } from '@agentyard/observability';
import type { Session } from '@agentyard/runs';
import { normaliseListPrefix } from '@agentyard/workspace';

/**
 * An invocation refused before it ran. `reason` is one of the fixed denial reasons (the
 * metric's label and `error.reason`); `invocation`, once recorded, goes out with the error so
 * the client can read the denied record back by its id.
 */
export class InvocationDeniedError extends AgentyardError {
  invocation?: unknown;
  constructor(
    readonly reason: InvocationDenialReason,
    code: 'policy_denied' | 'approval_required' | 'rate_limited',
    message: string,
    opts: { status: number; path?: string; retryAfterS?: number },
  ) {
    super(code, message, {
      status: opts.status,
      retryable: code === 'rate_limited',
      ...(opts.path ? { details: [{ path: opts.path, message }] } : {}),
      ...(opts.retryAfterS !== undefined ? { retryAfterS: opts.retryAfterS } : {}),
    });
  }
}

/** Arguments that name workspace paths: checked against the session's allowed_paths. */
const PATH_ARGS = ['path', 'prefix', 'cwd'] as const;

const within = (p: string, allowed: string) => allowed === '' || p === allowed || p.startsWith(`${allowed}/`);

/**
 * The sessions policy, checked in this order before anything is reserved or run:
 *
 * 1. A high-risk tool (risk_level `high`: irreversible side effects, today shell.exec and
 *    code.run) needs an operator token (the `admin` scope): a tenant's ordinary key may read
 *    and write workspace files through a session, not run arbitrary programs. Runs are not
 *    affected: their steps are checked at create and approved per run.
 * 2. A session with `allowed_paths` admits only tools scoped to the workspace, and only paths
 *    (`path`, `prefix`, `cwd`) inside one of them.
 * 3. The session's approval mode (`never|writes|all`, as a run's) asks for `approved: true`.
 * Returns the denial, or undefined when the invocation may go ahead.
 */
export function invocationDenial(i: {
  tool: Pick<ToolDefinition, 'requires_approval' | 'side_effects'>;
  entry: Pick<ToolCatalogEntry, 'name' | 'scope' | 'risk_level'>;
  session: Pick<Session, 'allowed_paths' | 'approval'>;
  args: Record<string, unknown>;
  approved: boolean;
  operator: boolean;
}): InvocationDeniedError | undefined {
  const { entry, session } = i;
  if (entry.risk_level === 'high' && !i.operator) {
    return new InvocationDeniedError('high_risk_tool', 'policy_denied', `${entry.name} is a high-risk tool (risk_level high): only an operator token (admin) may invoke it through a session`, {
      status: 403,
      path: 'tool',
    });
  }
  if (session.allowed_paths) {
    const allowed = session.allowed_paths.join(', ');
    if (entry.scope !== 'workspace') {
      return new InvocationDeniedError('scope_not_allowed', 'policy_denied', `${entry.name} reaches the whole workspace, and this session allows only ${allowed}`, { status: 403, path: 'tool' });
    }
    for (const a of PATH_ARGS) {
      if (typeof i.args[a] !== 'string') continue;
      const p = normaliseListPrefix(i.args[a], `args.${a}`);
      if (!session.allowed_paths.some((root) => within(p, root))) {
        return new InvocationDeniedError('path_not_allowed', 'policy_denied', `args.${a}: "${p}" is outside this session's allowed_paths (${allowed})`, { status: 403, path: `args.${a}` });
      }
    }
  }
  if (approvalNeeded(i.tool, session.approval) && !i.approved) {
    return new InvocationDeniedError('approval_required', 'approval_required', `${entry.name} needs approval in this session (approval: ${session.approval}); invoke again with "approved": true`, {
      status: 428,
    });
  }
  return undefined;
}

/** A session limit refused: 429, retryable, with the setting that refused named. */
export function limitDenial(limit: 'rate' | 'concurrency', retryAfterS: number, settings: { rate: number; concurrency: number }): InvocationDeniedError {
  return limit === 'rate'
    ? new InvocationDeniedError('rate_limited', 'rate_limited', `this session started ${settings.rate} invocations in the last minute (SESSION_RATE_LIMIT_PER_MINUTE); try again in ${retryAfterS}s`, {
        status: 429,
        path: 'SESSION_RATE_LIMIT_PER_MINUTE',
        retryAfterS,
      })
    : new InvocationDeniedError('concurrency_limited', 'rate_limited', `this session has ${settings.concurrency} invocations running (SESSION_MAX_CONCURRENCY); try again when one finished`, {
        status: 429,
        path: 'SESSION_MAX_CONCURRENCY',
        retryAfterS,
      });
}
