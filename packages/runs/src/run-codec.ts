import type { ApprovalDecision, DynamicStep, ErrorData, PlannedStep, Run, RunOptions, RunStatus, StepState, StepView, TokenUsage } from '@agentyard/core';

/** The immutable part of a run, stored as one JSON field. */
export interface RunDoc {
  id: string;
  tenant: string;
  workspace_id: string;
  prompt?: string;
  options: RunOptions;
  steps: PlannedStep[];
  created_at: string;
}

/** A run as the worker and API see it internally (adds bookkeeping the API hides). */
export interface StoredRun {
  doc: RunDoc;
  status: RunStatus;
  /** Bumped on every enqueue; a job whose generation is older is stale and ignored. */
  gen: number;
  attempts: number;
  queued_at?: string;
  started_at?: string;
  finished_at?: string;
  error?: ErrorData;
  result?: unknown;
  ended: boolean;
  /** By step id, without a prototype: see `stepStates`. */
  steps: Record<string, StepState>;
  /** Steps the model planner added, in order. */
  dynamicSteps: DynamicStep[];
  usage: TokenUsage;
}

/**
 * A step-state map with no prototype. Step ids are user input: on a plain object, an id such as
 * `constructor` or `toString` finds the inherited function, and `__proto__` cannot be a key at all.
 */
export function stepStates(entries: Iterable<readonly [string, StepState]> = []): Record<string, StepState> {
  const out = Object.create(null) as Record<string, StepState>;
  for (const [id, state] of entries) out[id] = state;
  return out;
}

const own = (o: Record<string, string>, key: string): string | undefined => (Object.hasOwn(o, key) ? o[key] : undefined);

export function decodeRun(
  hash: Record<string, string>,
  stepsHash: Record<string, string>,
  approvals: Record<string, string> = {},
): StoredRun | undefined {
  if (!hash.doc || !hash.status) return undefined;
  const doc = JSON.parse(hash.doc) as RunDoc;
  const planned = new Set(doc.steps.map((s) => s.id));
  const steps = stepStates();
  const dynamicSteps: DynamicStep[] = [];
  for (const [id, raw] of Object.entries(stepsHash)) {
    const state = JSON.parse(raw) as StepState & Partial<DynamicStep>;
    const approval = own(approvals, id);
    if (approval) state.approval = JSON.parse(approval) as ApprovalDecision;
    steps[id] = state;
    if (!planned.has(id) && state.tool !== undefined) dynamicSteps.push({ ...(state as DynamicStep), id });
  }
  dynamicSteps.sort((a, b) => a.order - b.order);
  return {
    doc,
    status: hash.status as RunStatus,
    gen: Number(hash.gen ?? 0),
    attempts: Number(hash.attempts ?? 0),
    ...(hash.queued_at ? { queued_at: hash.queued_at } : {}),
    ...(hash.started_at ? { started_at: hash.started_at } : {}),
    ...(hash.finished_at ? { finished_at: hash.finished_at } : {}),
    ...(hash.error ? { error: JSON.parse(hash.error) as ErrorData } : {}),
    ...(hash.result ? { result: JSON.parse(hash.result) as unknown } : {}),
    ended: hash.ended === '1',
    steps,
    dynamicSteps,
    usage: { prompt_tokens: Number(hash.usage_prompt ?? 0), completion_tokens: Number(hash.usage_completion ?? 0) },
  };
}

/** Outputs larger than this are cut in API views; the worker keeps the stored value. */
export const OUTPUT_VIEW_LIMIT = 8 * 1024;

export function truncateOutput(output: unknown, limit = OUTPUT_VIEW_LIMIT): unknown {
  if (output === undefined) return undefined;
  const json = JSON.stringify(output);
  if (json === undefined || json.length <= limit) return output;
  return { truncated: true, size: json.length, preview: json.slice(0, limit) };
}

/** How much of each big value a view keeps; `undefined` keeps the value whole. */
export interface ViewLimits {
  args?: number;
  output?: number;
}

export function stepView(step: PlannedStep, state: StepState | undefined, truncate = true, limits: ViewLimits = {}): StepView {
  const s: StepState = state ?? { status: 'pending', attempts: 0 };
  const view: StepView = { ...step, ...s };
  if (truncate && s.output !== undefined) view.output = truncateOutput(s.output, limits.output);
  if (truncate && limits.args !== undefined) view.args = truncateOutput(step.args, limits.args) as Record<string, unknown>;
  return view;
}

/**
 * The run as the HTTP contract shows it. Outputs and the result are cut at OUTPUT_VIEW_LIMIT;
 * args are kept whole (they came in one request body, so API_BODY_LIMIT bounds them) unless
 * `limits.args` says otherwise, as list views do (see run-list-view.ts).
 */
export function toRunView(r: StoredRun, limits: ViewLimits = {}): Run {
  return runView(r, limits);
}

/** The run with every output whole: what its archive keeps (run.json). */
export const toFullRunView = (r: StoredRun): Run => runView(r, { output: Number.POSITIVE_INFINITY });

function runView(r: StoredRun, limits: ViewLimits): Run {
  return {
    id: r.doc.id,
    tenant: r.doc.tenant,
    status: r.status,
    workspace_id: r.doc.workspace_id,
    ...(r.doc.prompt === undefined ? {} : { prompt: r.doc.prompt }),
    options: r.doc.options,
    attempts: r.attempts,
    created_at: r.doc.created_at,
    ...(r.queued_at ? { queued_at: r.queued_at } : {}),
    ...(r.started_at ? { started_at: r.started_at } : {}),
    ...(r.finished_at ? { finished_at: r.finished_at } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.result === undefined ? {} : { result: truncateOutput(r.result, limits.output) }),
    ...(r.usage.prompt_tokens + r.usage.completion_tokens > 0
      ? { usage: { ...r.usage, total_tokens: r.usage.prompt_tokens + r.usage.completion_tokens } }
      : {}),
    steps: [
      ...r.doc.steps.map((s) => stepView(s, r.steps[s.id], true, limits)),
      ...r.dynamicSteps.map(({ order: _order, ...d }) => stepView(d, d, true, limits)),
    ],
  };
}
