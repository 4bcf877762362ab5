import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { ToolRegistry } from '@agentyard/agent';
import { StepTimeoutError, toErrorData, within } from '@agentyard/core';
import type { Logger, WorkerMetrics } from '@agentyard/observability';
import { InvocationJobData, invocationQueueName } from '@agentyard/queue';
import type { InvocationResult, Session, SessionArchiver, SessionStore } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';
import { recordWrites } from './recording-workspace';

/** Log lines kept in an invocation record; the rest are counted, not stored. */
const MAX_LOG_LINES = 1000;

/**
 * Runs direct tool invocations (POST /v1/sessions/:id/tools/:tool/invoke) from their own
 * queue: the tool from the registry, on the session's workspace, bounded by the tool's
 * timeout and its `output_limit_kb`. The API reserved the record; `begin` makes sure only one
 * worker ever runs it. Each ended invocation is archived into the session's workspace.
 */
export function createInvocationWorker(opts: {
  connection: ConnectionOptions;
  queueName: string;
  concurrency: number;
  /** The run worker's lock and stall settings: an invocation on a dead worker ends `interrupted` as fast as a run resumes. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  sessions: SessionStore;
  archiver?: SessionArchiver;
  tools: ToolRegistry;
  /** The session's workspace as its tools see it (scoped, and metered for the tenant's caps). */
  workspaceFor(tenant: string, workspaceId: string): Workspace;
  logger: Logger;
  metrics?: Pick<WorkerMetrics, 'invocations' | 'invocationDuration'>;
}): { worker: Worker; close(): Promise<void> } {
  const active = new Set<AbortController>();
  const finish = async (id: string, session: Session | undefined, result: InvocationResult, toolName: string) => {
    const status = result.error ? 'failed' : 'succeeded';
    if (!(await opts.sessions.finish(id, status, result))) return;
    // Only registered tool names become label values: bounded cardinality.
    const tool = opts.tools.get(toolName) ? toolName : 'unknown';
    opts.metrics?.invocations.inc({ tool, status });
    opts.metrics?.invocationDuration.observe({ tool, status }, result.duration_ms / 1000);
    const inv = await opts.sessions.invocation(id);
    if (inv && session) await opts.archiver?.invocation(inv, session.workspace_id);
  };

  const process = async (job: Job) => {
    const data = InvocationJobData.safeParse(job.data);
    if (!data.success) return { skipped: 'invalid job data' };
    const id = data.data.invocationId;
    const inv = await opts.sessions.invocation(id);
    if (!inv) return { skipped: 'invocation gone' };
    // The record's own tenant names its session: session ids are per tenant.
    const session = await opts.sessions.session(inv.tenant, inv.session_id);
    const begun = await opts.sessions.begin(id);
    if (begun === 'gone') return { skipped: 'not running' };
    if (begun === 'started') {
      // An earlier worker started it and died: what it did is unknown, so never run it again.
      await finish(id, session, {
        logs: [], artifacts: [], duration_ms: 0,
        error: { code: 'interrupted', message: 'the worker running this invocation stopped; invoke again (the same correlation id may be reused)', retryable: true },
      }, inv.tool_name);
      return { interrupted: id };
    }
    if (!session) {
      await finish(id, session, { logs: [], artifacts: [], duration_ms: 0, error: { code: 'session_gone', message: `session ${inv.session_id} no longer exists`, retryable: false } }, inv.tool_name);
      return { skipped: 'session gone' };
    }
    await finish(id, session, await run(session, inv.tool_name, inv.args, id), inv.tool_name);
    return { invocationId: id };
  };

  const run = async (session: Session, toolName: string, args: unknown, id: string): Promise<InvocationResult> => {
    const started = Date.now();
    const logs: InvocationResult['logs'] = [];
    const tool = opts.tools.get(toolName);
    const files = recordWrites(opts.workspaceFor(session.tenant, session.workspace_id));
    const done = (r: Partial<InvocationResult>): InvocationResult => ({ logs, artifacts: files.artifacts(), duration_ms: Date.now() - started, ...r });
    if (!tool) return done({ error: { code: 'tool_unavailable', message: `this worker has no tool ${toolName}`, retryable: true } });
    const ac = new AbortController();
    active.add(ac);
    const timer = setTimeout(() => ac.abort(new StepTimeoutError(`tool ${toolName}`, tool.timeout_s)), tool.timeout_s * 1000);
    try {
      const parsed = tool.args.parse(args);
      const output = await tool.run(parsed, {
        signal: ac.signal,
        workspace: files.workspace,
        runId: session.id,
        tenant: session.tenant,
        stepId: id,
        attempt: 1,
        async log(level, message, extra) {
          if (logs.length < MAX_LOG_LINES) logs.push({ ts: new Date().toISOString(), level, message, ...(typeof extra?.stream === 'string' ? { stream: extra.stream } : {}) });
        },
      });
      const exit = (output as { exit_code?: unknown } | null)?.exit_code;
      const exitCode = typeof exit === 'number' ? { exit_code: exit } : {};
      // Over output_limit_kb the invocation fails rather than carrying a cut JSON document
      // (which would match neither the output schema nor what the tool said): effects stay,
      // the error says so, and the logs and artifacts are kept.
      const limitKb = tool.output_limit_kb ?? 1024;
      const size = Buffer.byteLength(JSON.stringify(output ?? null), 'utf8');
      if (size > limitKb * 1024) {
        return done({
          ...exitCode,
          error: {
            code: 'output_too_large',
            message: `${toolName} returned ${Math.ceil(size / 1024)} KB of output, over its output_limit_kb of ${limitKb}; the tool ran (its files are kept), its output was not stored`,
            retryable: false,
          },
        });
      }
      return done({ output, ...exitCode });
    } catch (err) {
      return done({ error: toErrorData(ac.signal.aborted ? ac.signal.reason : err) });
    } finally {
      clearTimeout(timer);
      active.delete(ac);
    }
  };

  const worker = new Worker(invocationQueueName(opts.queueName), process, {
    connection: opts.connection,
    concurrency: opts.concurrency,
    autorun: false,
    ...(opts.lockDurationMs !== undefined ? { lockDuration: opts.lockDurationMs } : {}),
    ...(opts.stalledIntervalMs !== undefined ? { stalledInterval: opts.stalledIntervalMs } : {}),
    // A stalled invocation is handed out again once, to a worker whose begin ends it `interrupted`.
    maxStalledCount: 1,
  });
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
