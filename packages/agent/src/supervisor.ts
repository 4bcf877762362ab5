import { ToolError } from '@agentyard/core';
import type { EventLog } from '@agentyard/events';
import type { RunStore, StepCheckpoint, StoredRun } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';
import { runModelConversation, type ModelDeps } from './model/model-run';
import { runStaticPlan } from './static-run';
import { createStepRunner, type StepOutcome } from './step-runner';
import type { ToolRegistry } from './tool-registry';

export interface SupervisorOptions {
  store: RunStore;
  events: EventLog;
  tools: ToolRegistry;
  workspaceFor(run: StoredRun): Workspace;
  /** The model planner's dependencies; without them prompt runs fail permanently. */
  model?: ModelDeps;
  /** Steps of one run running at once. @default 4 */
  stepConcurrency?: number;
  /** Called after every step, for metrics. */
  onStep?(outcome: StepOutcome): void;
  now?: () => number;
}

export interface ExecuteContext {
  /** Aborted with CancelledError, RunTimeoutError or ShutdownError. */
  signal: AbortSignal;
  /** The enqueue generation this worker owns; checkpoints from an older one are refused. */
  gen: number;
  /** This run's event log, when the worker wraps it (the archiver paces chatty runs). */
  events?: EventLog;
}

export interface Supervisor {
  /**
   * Runs one attempt: the client's plan (static planner) or a model conversation (model
   * planner). Resolves with the run's result, or throws why not: a classified error,
   * AwaitingApprovalError, or the abort reason. `checkpoint`: the last step's, not written
   * yet; the caller's finish (RunStore.succeed) writes it.
   */
  execute(run: StoredRun, ctx: ExecuteContext): Promise<{ result: unknown; checkpoint?: StepCheckpoint }>;
}

export function createSupervisor(opts: SupervisorOptions): Supervisor {
  return {
    async execute(run, ctx) {
      const workspace = opts.workspaceFor(run);
      const events = ctx.events ?? opts.events;
      const runner = createStepRunner({
        runId: run.doc.id,
        tenant: run.doc.tenant,
        gen: ctx.gen,
        initial: run.steps,
        store: opts.store,
        events,
        tools: opts.tools,
        workspace,
        ...(opts.onStep ? { onStep: opts.onStep } : {}),
        ...(opts.now ? { now: opts.now } : {}),
      });
      if (run.doc.steps.length > 0) {
        return runStaticPlan({ run, signal: ctx.signal, runner, tools: opts.tools, events, concurrency: opts.stepConcurrency ?? 4 });
      }
      if (!opts.model) {
        throw new ToolError('model_not_configured', 'this run needs a model but the worker has no LLM_BASE_URL configured', false);
      }
      return runModelConversation({ run, signal: ctx.signal, runner, tools: opts.tools, events, store: opts.store, workspace, model: opts.model });
    },
  };
}
