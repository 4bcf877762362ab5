import { createHash } from 'node:crypto';

/**
 * Names and labels of tool Jobs, derived only from (run, step, attempt, tenant), so a worker
 * that recovers a run finds the Job an earlier worker created for the same execution.
 *
 * - The Job name is a DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters,
 *   which is also the limit of the `job-name` label Kubernetes puts on its pods). Readable
 *   parts of the run and step ids are kept for operators; a hash of the exact ids makes it
 *   unique even when those parts were cut or had characters replaced.
 * - Label values allow [A-Za-z0-9._-], at most 63, alphanumeric at both ends. A value that had
 *   to change to fit gets a hash suffix so two different ids never share a label; the exact
 *   ids are kept in annotations, which have no such syntax.
 */

export const LABEL_PREFIX = 'agentyard.dev';
export const LABELS = {
  run: `${LABEL_PREFIX}/run`,
  step: `${LABEL_PREFIX}/step`,
  attempt: `${LABEL_PREFIX}/attempt`,
  tenant: `${LABEL_PREFIX}/tenant`,
} as const;

const MAX_NAME = 63;

function hash(parts: readonly string[], chars: number): string {
  // NUL cannot occur in the ids, so ('a','bc') and ('ab','c') hash differently.
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, chars);
}

function slug(s: string, max: number): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
}

/** `ay-<run>-<step>-a<attempt>-<hash>`, stable for the same inputs, at most 63 characters. */
export function jobName(runId: string, stepId: string, attempt: number): string {
  const h = hash([runId, stepId, String(attempt)], 10);
  const tail = `-a${attempt}-${h}`;
  // Room for 'ay-', the run part, '-', the step part and the tail.
  const room = MAX_NAME - 3 - tail.length - 1;
  const run = slug(runId.replace(/^run_/, ''), Math.min(20, room));
  const step = slug(stepId, Math.max(0, room - run.length));
  return `ay-${[run, step].filter(Boolean).join('-')}${tail}`.slice(0, MAX_NAME);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** `value` as it is when it is a valid label value, else a valid one with a hash of it. */
export function labelValue(value: string): string {
  if (value.length <= MAX_NAME && LABEL_VALUE.test(value)) return value;
  const h = hash([value], 8);
  const cleaned = value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, MAX_NAME - h.length - 1)
    .replace(/[^A-Za-z0-9]+$/, '');
  return cleaned ? `${cleaned}-${h}` : h;
}

export function jobLabels(ids: { runId: string; stepId: string; attempt: number; tenant: string }): Record<string, string> {
  return {
    'app.kubernetes.io/part-of': 'agentyard',
    'app.kubernetes.io/component': 'sandbox',
    'app.kubernetes.io/managed-by': 'agentyard-worker',
    [LABELS.run]: labelValue(ids.runId),
    [LABELS.step]: labelValue(ids.stepId),
    [LABELS.attempt]: String(ids.attempt),
    [LABELS.tenant]: labelValue(ids.tenant),
  };
}

export function jobAnnotations(ids: { runId: string; stepId: string; attempt: number; tenant: string }): Record<string, string> {
  return {
    [`${LABEL_PREFIX}/run-id`]: ids.runId,
    [`${LABEL_PREFIX}/step-id`]: ids.stepId,
    [`${LABEL_PREFIX}/attempt`]: String(ids.attempt),
    [`${LABEL_PREFIX}/tenant`]: ids.tenant,
  };
}
