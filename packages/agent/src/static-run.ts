import { ToolError, type PlannedStep } from '@agentyard/core';
import type { EventLog } from '@agentyard/events';
import type { StepCheckpoint, StoredRun } from '@agentyard/runs';
import { approvalVerdict } from './approval-gate';
import { AwaitingApprovalError, SiblingFailedError } from './run-errors';
import { StaticPlanner } from './static-planner';
import type { StepRunner } from './step-runner';
import type { ToolRegistry } from './tool-registry';

/**
 * Runs a client's explicit plan: every step whose `needs` have succeeded starts, up to
 * `concurrency` at once. The first failure stops the others (they are recorded as
 * cancelled and run again on a retry); a step that needs approval parks the run once the
 * steps already running have finished.
 */
export async function runStaticPlan(opts: {
  run: StoredRun;
  signal: AbortSignal;
  runner: StepRunner;
  tools: ToolRegistry;
  events: EventLog;
  concurrency: number;
}): Promise<{ result: unknown; checkpoint?: StepCheckpoint }> {
  const { run, runner, tools, events } = opts;
  const runId = run.doc.id;
  const planner = new StaticPlanner(run.doc.steps);
  const inFlight = new Map<string, Promise<void>>();
  const failures: unknown[] = [];
  const siblings = new AbortController();
  const signal = AbortSignal.any([opts.signal, siblings.signal]);
  let parked: PlannedStep | undefined;

  const succeeded = run.doc.steps.filter((s) => runner.state.get(s.id)?.status === 'succeeded').length;
  if (succeeded > 0 && succeeded < run.doc.steps.length) {
    await events.append(runId, 'log', {
      level: 'info',
      message: `resuming attempt ${run.attempts}: ${succeeded} of ${run.doc.steps.length} steps already succeeded and will not run again`,
    });
  }

  const statusOf = (id: string) =>
    inFlight.has(id) || parked?.id === id ? 'running' : runner.state.get(id)?.status === 'succeeded' ? 'succeeded' : 'pending';

  const start = async (step: PlannedStep): Promise<boolean> => {
    const tool = tools.get(step.tool);
    const current = runner.state.get(step.id);
    const verdict = tool ? approvalVerdict(tool, run.doc.options.approval, current) : 'not_needed';
    if (verdict === 'ask') {
      parked = step;
      const attempts = current?.attempts ?? 0;
      await runner.record(step, { status: 'awaiting_approval', attempts }, { phase: 'awaiting_approval', attempt: attempts });
      return false;
    }
    if (verdict === 'rejected') {
      const comment = current?.approval?.comment;
      const err = new ToolError('rejected', `step ${step.id} was rejected${comment ? `: ${comment}` : ''}`, false);
      const attempts = current?.attempts ?? 0;
      await runner.record(
        step,
        { status: 'failed', attempts, finished_at: new Date().toISOString(), error: err.toData(), ...(current?.approval ? { approval: current.approval } : {}) },
        { phase: 'failed', attempt: attempts, error: err.toData() },
      );
      failures.push(err);
      if (!siblings.signal.aborted) siblings.abort(new SiblingFailedError(step.id));
      return false;
    }
    // The last step to run, alone: its checkpoint can travel with the run's finish.
    const last = inFlight.size === 0 && run.doc.steps.every((s) => s.id === step.id || runner.state.get(s.id)?.status === 'succeeded');
    const p = runner
      .run(step, signal, last ? { deferCheckpoint: true } : {})
      .then(() => undefined)
      .catch((err: unknown) => {
        failures.push(err);
        if (!siblings.signal.aborted) siblings.abort(new SiblingFailedError(step.id));
      })
      .finally(() => inFlight.delete(step.id));
    inFlight.set(step.id, p);
    return true;
  };

  for (;;) {
    if (failures.length === 0 && !signal.aborted && !parked) {
      for (const step of planner.next(statusOf).steps) {
        if (inFlight.size >= opts.concurrency) break;
        if (!(await start(step))) break;
      }
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight.values());
  }
  const first = failures.find((f) => !(f instanceof SiblingFailedError)) ?? failures[0];
  const done = planner.next(statusOf).done;
  // The run will not finish here: a deferred checkpoint is written now, as it would have been.
  if (opts.signal.aborted || first !== undefined || parked || !done) await runner.flushDeferred();
  if (opts.signal.aborted) throw opts.signal.reason;
  if (first !== undefined) throw first;
  if (parked) throw new AwaitingApprovalError({ step_id: parked.id, tool: parked.tool, args: parked.args });
  if (!done) throw new ToolError('plan_stuck', 'no step can start and the plan is not done', false);
  const checkpoint = runner.takeDeferred();
  return { result: planner.result((id) => runner.state.get(id)?.output), ...(checkpoint ? { checkpoint } : {}) };
}
