import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { ToolRegistry } from '@agentyard/agent';
import { StepTimeoutError, toErrorData, within } from '@agentyard/core';
import type { Logger } from '@agentyard/observability';
import { InvocationJobData, invocationQueueName } from '@agentyard/queue';
import type { InvocationResult, Session, SessionStore } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';

/** Log lines kept in an invocation record; the rest are counted, not stored. */
const MAX_LOG_LINES = 1000;

/**
 * Runs direct tool invocations (POST /v1/sessions/:id/tools/:tool/invoke) from their own
 * queue: the tool from the registry, on the session's workspace, bounded by the tool's
 * timeout. The API reserved the record; `begin` makes sure only one worker ever runs it.
 */
export function createInvocationWorker(opts: {
  connection: ConnectionOptions;
  queueName: string;
  concurrency: number;
  sessions: SessionStore;
  tools: ToolRegistry;
  /** The session's workspace as its tools see it (scoped, and metered for the tenant's caps). */
  workspaceFor(tenant: string, workspaceId: string): Workspace;
  logger: Logger;
}): { worker: Worker; close(): Promise<void> } {
  const active = new Set<AbortController>();
  const process = async (job: Job) => {
    const data = InvocationJobData.safeParse(job.data);
    if (!data.success) return { skipped: 'invalid job data' };
    const id = data.data.invocationId;
    const inv = await opts.sessions.invocation(id);
    const session = inv && (await opts.sessions.session(inv.session_id));
    if (!inv || !session) return { skipped: 'invocation or session gone' };
    const begun = await opts.sessions.begin(id);
    if (begun === 'started') {
      // An earlier worker started it and died: what it did is unknown, so never run it again.
      await opts.sessions.finish(id, 'failed', {
        logs: [], artifacts: [], duration_ms: 0,
        error: { code: 'interrupted', message: 'the worker running this invocation stopped; invoke again with a new correlation id', retryable: true },
      });
      return { interrupted: id };
    }
    if (begun !== 'ok') return { skipped: 'not running' };
    const result = await run(session, inv.tool_name, inv.args, id);
    await opts.sessions.finish(id, result.error ? 'failed' : 'succeeded', result);
    return { invocationId: id };
  };

  const run = async (session: Session, toolName: string, args: unknown, id: string): Promise<InvocationResult> => {
    const started = Date.now();
    const logs: InvocationResult['logs'] = [];
    const tool = opts.tools.get(toolName);
    const done = (r: Partial<InvocationResult>): InvocationResult => ({ logs, artifacts: [], duration_ms: Date.now() - started, ...r });
    if (!tool) return done({ error: { code: 'tool_unavailable', message: `this worker has no tool ${toolName}`, retryable: true } });
    const ac = new AbortController();
    active.add(ac);
    const timer = setTimeout(() => ac.abort(new StepTimeoutError(`tool ${toolName}`, tool.timeout_s)), tool.timeout_s * 1000);
    try {
      const parsed = tool.args.parse(args);
      const output = await tool.run(parsed, {
        signal: ac.signal,
        workspace: opts.workspaceFor(session.tenant, session.workspace_id),
        runId: session.id,
        tenant: session.tenant,
        stepId: id,
        attempt: 1,
        async log(level, message, extra) {
          if (logs.length < MAX_LOG_LINES) logs.push({ ts: new Date().toISOString(), level, message, ...(typeof extra?.stream === 'string' ? { stream: extra.stream } : {}) });
        },
      });
      const exit = (output as { exit_code?: unknown } | null)?.exit_code;
      return done({ output, ...(typeof exit === 'number' ? { exit_code: exit } : {}) });
    } catch (err) {
      return done({ error: toErrorData(ac.signal.aborted ? ac.signal.reason : err) });
    } finally {
      clearTimeout(timer);
      active.delete(ac);
    }
  };

  const worker = new Worker(invocationQueueName(opts.queueName), process, { connection: opts.connection, concurrency: opts.concurrency, autorun: false });
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'invocation worker error'));
  return {
    worker,
    async close() {
      // A tool still running at shutdown is aborted; its invocation ends failed (retryable).
      const t = setTimeout(() => active.forEach((a) => a.abort(new Error('worker shutting down'))), 2000);
      await within(worker.close(), 5000);
      clearTimeout(t);
    },
  };
}
