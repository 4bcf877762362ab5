import { readySteps, type PlannedStep } from '@agentyard/core';

/**
 * A planner decides which steps may start given what has happened so far. The static
 * planner runs exactly the steps a client gave, in the order their `needs` allow;
 * independent steps are offered together so the supervisor can run them concurrently.
 */
export interface Planner {
  /** Steps that may start now; `done` once every step has succeeded. */
  next(statusOf: (stepId: string) => string): { steps: PlannedStep[]; done: boolean };
}

export class StaticPlanner implements Planner {
  constructor(private readonly steps: readonly PlannedStep[]) {}

  next(statusOf: (stepId: string) => string): { steps: PlannedStep[]; done: boolean } {
    const done = this.steps.every((s) => statusOf(s.id) === 'succeeded');
    return { steps: done ? [] : readySteps(this.steps, statusOf), done };
  }

  /** Outputs of the steps nothing depends on: what the plan produced. */
  result(outputOf: (stepId: string) => unknown): Record<string, unknown> {
    const needed = new Set(this.steps.flatMap((s) => s.needs));
    // No prototype: a step id like `constructor` is an ordinary key of the result.
    const out = Object.create(null) as Record<string, unknown>;
    for (const s of this.steps) if (!needed.has(s.id)) out[s.id] = outputOf(s.id);
    return out;
  }
}
