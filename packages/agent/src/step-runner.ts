import {
  CancelledError,
  StepTimeoutError,
  ToolError,
  toErrorData,
  type ErrorData,
  type PlannedStep,
  type StepPayload,
  type StepState,
  type TokenUsage,
} from '@agentyard/core';
import type { EventLog } from '@agentyard/events';
import { truncateOutput, type RunStore, type StepCheckpoint } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';
import { ShutdownError, SiblingFailedError, StaleRunError } from './run-errors';
import type { ToolContext } from './tool';
import type { ToolRegistry } from './tool-registry';
import { abortable } from './tools/abortable';

/** Outputs above this are stored as a preview; the full value belongs in the workspace. */
const MAX_STORED_OUTPUT = 256 * 1024;

/** What metrics learn about each finished step; every field has a small, fixed set of values. */
export interface StepOutcome {
  tool: string;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  errorClass: 'none' | 'retryable' | 'permanent' | 'timeout' | 'cancelled';
  seconds: number;
}

export interface StepRunOptions {
  /** For a step the model added: its position, stored with its spec. */
  order?: number;
  /** Messages appended to the model transcript in the same checkpoint as the outcome. */
  transcript?: {
    succeeded(output: unknown): unknown;
    /** Return undefined to record nothing (the call will run again on retry). */
    failed(error: ErrorData): unknown | undefined;
  };
  /** Runs the step's work instead of a registered tool (model turns). */
  work?: (signal: AbortSignal) => Promise<{ output: unknown; usage?: TokenUsage; transcript?: unknown }>;
  timeoutS?: number;
  /**
   * The plan's last step: on success its checkpoint is not written here but kept for
   * `takeDeferred`, so the run's finish writes it in the same script (one round trip less
   * per run). Nothing depends on it; whoever does not finish the run calls `flushDeferred`.
   */
  deferCheckpoint?: boolean;
}

export interface StepRunner {
  /** Current state of every step this attempt knows about. */
  readonly state: Map<string, StepState>;
  run(step: PlannedStep, signal: AbortSignal, opts?: StepRunOptions): Promise<unknown>;
  /** Checkpoint without running (awaiting approval, rejected, invalid arguments). */
  record(step: PlannedStep, state: StepState, event: Omit<StepPayload, 'step_id' | 'tool'>, opts?: { order?: number; transcript?: unknown }): Promise<void>;
  /** The checkpoint a `deferCheckpoint` step left unwritten (and forgets it). */
  takeDeferred(): StepCheckpoint | undefined;
  /** Writes that checkpoint now, if any (the run will not finish with it). */
  flushDeferred(): Promise<void>;
}

/**
 * Executes one step: checkpoints `running`, runs the tool under the step's timeout and the
 * run's signal, checkpoints the outcome (with its event, and a transcript message for
 * model runs) before anything depends on it. A checkpoint refused as stale stops the
 * attempt: someone re-enqueued the run.
 */
export function createStepRunner(opts: {
  runId: string;
  tenant: string;
  gen: number;
  initial: Record<string, StepState>;
  store: RunStore;
  events: EventLog;
  tools: ToolRegistry;
  workspace: Workspace;
  onStep?(outcome: StepOutcome): void;
  now?: () => number;
}): StepRunner {
  const { runId, store, events, tools, workspace } = opts;
  const now = opts.now ?? Date.now;
  const iso = (ms: number) => new Date(ms).toISOString();
  const state = new Map<string, StepState>(Object.entries(opts.initial));

  const save = async (step: PlannedStep, s: StepState, event: StepPayload, extra: { order?: number; transcript?: unknown; usage?: TokenUsage } = {}) => {
    const record = extra.order === undefined ? s : { ...s, id: step.id, tool: step.tool, args: step.args, needs: step.needs, order: extra.order };
    state.set(step.id, s);
    const r = await store.checkpoint(runId, step.id, record, {
      expectGen: opts.gen,
      event,
      ...(extra.transcript === undefined ? {} : { transcript: extra.transcript }),
      ...(extra.usage ? { usage: extra.usage } : {}),
    });
    if (r === 'stale') throw new StaleRunError(runId);
  };

  let deferred: StepCheckpoint | undefined;
  const takeDeferred = () => {
    const d = deferred;
    deferred = undefined;
    return d;
  };

  return {
    state,
    takeDeferred,
    async flushDeferred() {
      const d = takeDeferred();
      if (!d) return;
      const r = await store.checkpoint(runId, d.stepId, d.state, { expectGen: opts.gen, event: d.event });
      if (r === 'stale') throw new StaleRunError(runId);
    },
    async record(step, s, event, extra = {}) {
      await save(step, s, { ...event, step_id: step.id, tool: step.tool }, extra);
    },
    async run(step, signal, o = {}) {
      const tool = tools.get(step.tool);
      const previous = state.get(step.id);
      const attempt = (previous?.attempts ?? 0) + 1;
      const started = now();
      // A step left running by a dead worker is picked up, not started afresh: tools that can
      // find what that execution started (a Kubernetes Job) reattach to it.
      const interrupted = previous?.status === 'running' ? (previous.resumes_attempt ?? previous.attempts) : undefined;
      const base: StepState = {
        status: 'running',
        attempts: attempt,
        started_at: iso(started),
        ...(interrupted !== undefined ? { resumes_attempt: interrupted } : {}),
        ...(previous?.approval ? { approval: previous.approval } : {}),
      };
      const phase = { step_id: step.id, tool: step.tool, attempt };
      const order = o.order === undefined ? {} : { order: o.order };
      await save(step, base, { ...phase, phase: 'started' }, order);
      const timeoutS = o.timeoutS ?? step.timeout_s ?? tool?.timeout_s ?? 300;
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new StepTimeoutError(`step ${step.id}`, timeoutS)), timeoutS * 1000);
      const stepSignal = AbortSignal.any([signal, timeout.signal]);
      try {
        let output: unknown;
        let usage: TokenUsage | undefined;
        let message: unknown;
        if (o.work) {
          ({ output, usage, transcript: message } = await abortable(o.work(stepSignal), stepSignal));
        } else {
          if (!tool) throw new ToolError('unknown_tool', `unknown tool "${step.tool}"`, false);
          const args = tool.args.safeParse(step.args);
          if (!args.success) throw new ToolError('invalid_args', `step ${step.id}: ${args.error.message}`, false);
          const ctx: ToolContext = {
            signal: stepSignal,
            workspace,
            runId,
            tenant: opts.tenant,
            stepId: step.id,
            attempt,
            ...(interrupted !== undefined ? { interruptedAttempt: interrupted } : {}),
            log: async (level, msg, extra = {}) => {
              await events.append(runId, 'log', { ...extra, level, message: msg, step_id: step.id });
            },
          };
          output = await abortable(tool.run(args.data, ctx), stepSignal);
        }
        output = capOutput(output);
        const duration = now() - started;
        if (o.transcript) message = o.transcript.succeeded(output);
        const done: StepState = { ...base, status: 'succeeded', finished_at: iso(now()), duration_ms: duration, output, ...(usage ? { usage } : {}) };
        const event: StepPayload = { ...phase, phase: 'succeeded', duration_ms: duration, output: truncateOutput(output) };
        if (o.deferCheckpoint && o.order === undefined && message === undefined && !usage) {
          state.set(step.id, done);
          deferred = { stepId: step.id, state: done, event };
        } else {
          await save(step, done, event, { ...order, ...(message === undefined ? {} : { transcript: message }), ...(usage ? { usage } : {}) });
        }
        opts.onStep?.({ tool: step.tool, outcome: 'succeeded', errorClass: 'none', seconds: duration / 1000 });
        return output;
      } catch (err) {
        if (err instanceof StaleRunError) throw err;
        const reason: unknown = stepSignal.aborted ? stepSignal.reason : err;
        const stopped = reason instanceof CancelledError || reason instanceof ShutdownError || reason instanceof SiblingFailedError;
        const status = stopped ? 'cancelled' : 'failed';
        const duration = now() - started;
        const error = toErrorData(reason);
        const message = !stopped && o.transcript ? o.transcript.failed(error) : undefined;
        await save(
          step,
          { ...base, status, finished_at: iso(now()), duration_ms: duration, error },
          { ...phase, phase: status, duration_ms: duration, error },
          { ...order, ...(message === undefined ? {} : { transcript: message }) },
        );
        const errorClass = stopped ? 'cancelled' : error.code === 'timeout' ? 'timeout' : error.retryable ? 'retryable' : 'permanent';
        opts.onStep?.({ tool: step.tool, outcome: stopped ? 'cancelled' : 'failed', errorClass, seconds: duration / 1000 });
        throw reason;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function capOutput(output: unknown): unknown {
  const json = JSON.stringify(output ?? null);
  if (json.length <= MAX_STORED_OUTPUT) return output ?? null;
  return { truncated: true, size: json.length, preview: json.slice(0, 4096) };
}
