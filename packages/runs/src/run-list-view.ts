import type { Run } from '@agentyard/core';
import { toRunView, truncateOutput, type StoredRun } from './run-codec';

/**
 * The run as lists show it (`GET /agent/runs`, `GET /admin/dlq`). A list answers for up to
 * 200 runs at once, so what a tenant stored must not decide its size: without this, 20 runs
 * with 3.5 MB of args each made a 74 MB page.
 *
 * Bound: every run in a list is at most RUN_LIST_VIEW_BYTES of JSON, so a page of `limit`
 * runs is at most `limit` x 128 KiB (25 MiB at limit=200; a few hundred bytes a run is usual).
 * How: args, outputs and the result are cut to a 1 KiB preview (`{truncated, size, preview}`,
 * the marker `GET /agent/runs/:id` uses for outputs), the prompt and error messages to 1 KiB
 * (`prompt_truncated: true`), and if the run is still too big its last steps are left out
 * (`steps_omitted: n`). What is left without steps is bounded by the schema (32 labels of 256
 * characters, the cut prompt, ids and times: under 70 KiB even when every character needs a
 * six-byte JSON escape), so the budget always holds. `GET /agent/runs/:id` has everything.
 */
export const RUN_LIST_VIEW_BYTES = 128 * 1024;
export const LIST_VALUE_LIMIT = 1024;

export type RunListView = Run & { prompt_truncated?: true; steps_omitted?: number };

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

const cut = (s: string) => (s.length > LIST_VALUE_LIMIT ? `${s.slice(0, LIST_VALUE_LIMIT)}...` : s);

export function toListView(r: StoredRun): RunListView {
  return bound(toRunView(r, { args: LIST_VALUE_LIMIT, output: LIST_VALUE_LIMIT }));
}

/** The same for a run only its archive still holds (its run.json, outputs whole). */
export function toArchivedListView(record: Run): RunListView {
  const cutValue = (v: unknown) => (v === undefined ? undefined : truncateOutput(v, LIST_VALUE_LIMIT));
  return bound({
    ...record,
    ...(record.result === undefined ? {} : { result: cutValue(record.result) }),
    steps: record.steps.map((s) => ({
      ...s,
      args: cutValue(s.args) as Record<string, unknown>,
      ...(s.output === undefined ? {} : { output: cutValue(s.output) }),
    })),
  });
}

function bound(view: RunListView): RunListView {
  if (view.prompt !== undefined && view.prompt.length > LIST_VALUE_LIMIT) {
    view.prompt = view.prompt.slice(0, LIST_VALUE_LIMIT);
    view.prompt_truncated = true;
  }
  if (view.error) view.error = { ...view.error, message: cut(view.error.message) };
  view.steps = view.steps.map((s) => (s.error ? { ...s, error: { ...s.error, message: cut(s.error.message) } } : s));
  if (bytes(view) <= RUN_LIST_VIEW_BYTES) return view;
  // Keep the first steps that fit; the marker field is counted in the base.
  const steps = view.steps;
  let used = bytes({ ...view, steps: [], steps_omitted: steps.length });
  let kept = 0;
  while (kept < steps.length) {
    const next = bytes(steps[kept]) + 1; // the comma between array items
    if (used + next > RUN_LIST_VIEW_BYTES) break;
    used += next;
    kept += 1;
  }
  return { ...view, steps: steps.slice(0, kept), steps_omitted: steps.length - kept };
}
