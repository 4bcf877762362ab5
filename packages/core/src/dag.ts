import { ValidationError, type ErrorDetail } from './errors';
import type { PlannedStep, StepSpec } from './run';

/**
 * Give every step an id (`s1`, `s2`, … by position when absent) and check that `needs`
 * forms a DAG over known ids. Every problem is reported with the index of the step that
 * has it, e.g. `steps[2].needs`, so a client can point at the line to fix.
 */
export function planSteps(specs: readonly StepSpec[]): PlannedStep[] {
  const details: ErrorDetail[] = [];
  const steps: PlannedStep[] = specs.map((s, i) => ({
    id: s.id ?? `s${i + 1}`,
    tool: s.tool,
    args: s.args,
    needs: [...new Set(s.needs)],
    ...(s.timeout_s === undefined ? {} : { timeout_s: s.timeout_s }),
  }));
  const index = new Map<string, number>();
  steps.forEach((s, i) => {
    if (index.has(s.id)) details.push({ path: `steps[${i}].id`, message: `duplicate step id "${s.id}"` });
    else index.set(s.id, i);
  });
  steps.forEach((s, i) => {
    for (const need of s.needs) {
      if (need === s.id) details.push({ path: `steps[${i}].needs`, message: `step "${s.id}" needs itself` });
      else if (!index.has(need)) details.push({ path: `steps[${i}].needs`, message: `unknown step id "${need}"` });
    }
  });
  if (details.length === 0) {
    const cycle = findCycle(steps, index);
    if (cycle) {
      const at = index.get(cycle[0]!)!;
      details.push({ path: `steps[${at}].needs`, message: `needs form a cycle: ${cycle.join(' -> ')}` });
    }
  }
  if (details.length > 0) {
    throw new ValidationError(`${details[0]!.path}: ${details[0]!.message}`, details);
  }
  return steps;
}

/** Depth-first search with colours; returns the ids along the first cycle found. */
function findCycle(steps: PlannedStep[], index: Map<string, number>): string[] | undefined {
  const colour = new Map<string, 'grey' | 'black'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    colour.set(id, 'grey');
    stack.push(id);
    for (const need of steps[index.get(id)!]!.needs) {
      const c = colour.get(need);
      if (c === 'grey') return [...stack.slice(stack.indexOf(need)), need];
      if (c === undefined) {
        const found = visit(need);
        if (found) return found;
      }
    }
    stack.pop();
    colour.set(id, 'black');
    return undefined;
  };
  for (const s of steps) {
    if (!colour.has(s.id)) {
      const found = visit(s.id);
      if (found) return found;
    }
  }
  return undefined;
}

/** Steps whose dependencies have all succeeded and that have not started yet. */
export function readySteps(
  steps: readonly PlannedStep[],
  status: (id: string) => string,
): PlannedStep[] {
  return steps.filter((s) => status(s.id) === 'pending' && s.needs.every((n) => status(n) === 'succeeded'));
}
