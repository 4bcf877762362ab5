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
  steps: Record<string, StepState>;
  /** Steps the model planner added, in order. */
  dynamicSteps: DynamicStep[];
  usage: TokenUsage;
}

export function decodeRun(
  hash: Record<string, string>,
  stepsHash: Record<string, string>,
  approvals: Record<string, string> = {},
): StoredRun | undefined {
  if (!hash.doc || !hash.status) return undefined;
  const doc = JSON.parse(hash.doc) as RunDoc;
  const planned = new Set(doc.steps.map((s) => s.id));
  const steps: Record<string, StepState> = {};
  const dynamicSteps: DynamicStep[] = [];
  for (const [id, raw] of Object.entries(stepsHash)) {
    const state = JSON.parse(raw) as StepState & Partial<DynamicStep>;
    if (approvals[id]) state.approval = JSON.parse(approvals[id]) as ApprovalDecision;
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

export function stepView(step: PlannedStep, state: StepState | undefined, truncate = true): StepView {
  const s: StepState = state ?? { status: 'pending', attempts: 0 };
  const view: StepView = { ...step, ...s };
  if (truncate && s.output !== undefined) view.output = truncateOutput(s.output);
  return view;
}

/** The run as the HTTP contract shows it. */
export const toRunView = (r: StoredRun): Run => runView(r, true);
/** The same with outputs whole: what the archive keeps. */
export const toFullRunView = (r: StoredRun): Run => runView(r, false);

function runView(r: StoredRun, truncate: boolean): Run {
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
    ...(r.result === undefined ? {} : { result: truncate ? truncateOutput(r.result) : r.result }),
    ...(r.usage.prompt_tokens + r.usage.completion_tokens > 0
      ? { usage: { ...r.usage, total_tokens: r.usage.prompt_tokens + r.usage.completion_tokens } }
      : {}),
    steps: [
      ...r.doc.steps.map((s) => stepView(s, r.steps[s.id], truncate)),
      ...r.dynamicSteps.map(({ order: _order, ...d }) => stepView(d, d, truncate)),
    ],
  };
}
