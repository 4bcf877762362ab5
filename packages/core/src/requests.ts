import { z } from 'zod';
import { RunOptions, StepSpec } from './run';
import { RUN_ID_PATTERN } from './ids';

/** Prompts beyond this many characters are refused with a 400 naming `prompt`. */
export const MAX_PROMPT_CHARS = 200_000;
export const MAX_STEPS_PER_PLAN = 200;

const RunId = z.string().regex(RUN_ID_PATTERN, 'not a run id (run_ followed by 26 characters)');
export const WORKSPACE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const CreateRunRequest = z
  .strictObject({
    action: z.literal('create'),
    prompt: z.string().min(1).max(MAX_PROMPT_CHARS).optional(),
    steps: z.array(StepSpec).min(1).max(MAX_STEPS_PER_PLAN).optional(),
    workspace_id: z.string().regex(WORKSPACE_ID_PATTERN, 'workspace ids are 1-64 letters, digits, _ and -').optional(),
    options: RunOptions.default(RunOptions.parse({})),
    start: z.boolean().default(false),
  })
  .refine((r) => r.prompt !== undefined || r.steps !== undefined, {
    message: 'provide a prompt, steps, or both',
    path: ['steps'],
  });
export type CreateRunRequest = z.infer<typeof CreateRunRequest>;

export const StartRunRequest = z.strictObject({ action: z.literal('start'), run_id: RunId });
export const CancelRunRequest = z.strictObject({
  action: z.literal('cancel'),
  run_id: RunId,
  reason: z.string().max(1000).optional(),
});
export const RetryRunRequest = z.strictObject({ action: z.literal('retry'), run_id: RunId });
export const DecideRequest = z.strictObject({
  action: z.enum(['approve', 'reject']),
  run_id: RunId,
  step_id: z.string().min(1).max(64),
  comment: z.string().max(2000).optional(),
});

export const EXECUTE_ACTIONS = ['create', 'start', 'cancel', 'retry', 'approve', 'reject'] as const;
export type ExecuteAction = (typeof EXECUTE_ACTIONS)[number];

/**
 * Each action's body schema. Parsing looks at `action` first so an unknown or missing
 * action is reported as such, rather than as a union of every schema's complaints.
 */
export const ExecuteRequestSchemas = {
  create: CreateRunRequest,
  start: StartRunRequest,
  cancel: CancelRunRequest,
  retry: RetryRunRequest,
  approve: DecideRequest,
  reject: DecideRequest,
} as const;

export type StartRunRequest = z.infer<typeof StartRunRequest>;
export type CancelRunRequest = z.infer<typeof CancelRunRequest>;
export type RetryRunRequest = z.infer<typeof RetryRunRequest>;
export type DecideRequest = z.infer<typeof DecideRequest>;

/**
 * An integer query parameter written in plain decimal digits. `Number()`-style coercion
 * would take `1.5`, `1e20`, `0x10` or `?limit=1&limit=2` (an array) and hand Redis a value it
 * refuses with a 500; here each is a 400 naming the parameter.
 */
export function queryInt(min: number, max: number, fallback: number) {
  return z
    .string({ error: `an integer from ${min} to ${max}` })
    .regex(/^\d{1,16}$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.int().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`))
    .default(fallback);
}

/**
 * The cursor of `GET /agent/runs` is the id of the last run of the previous page: run ids sort
 * by creation time, so the next page starts just below it. Clients treat it as opaque.
 */
export const ListRunsQuery = z.strictObject({
  status: z.enum(['created', 'queued', 'running', 'awaiting_approval', 'failed', 'succeeded', 'dead_lettered', 'cancelled']).optional(),
  limit: queryInt(1, 200, 50),
  cursor: z.string({ error: 'not a cursor returned by this endpoint' }).regex(RUN_ID_PATTERN, 'not a cursor returned by this endpoint').optional(),
});
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;

/** Offsets past this are refused: no DLQ holds a billion entries, and Redis wants an int64. */
export const MAX_DLQ_OFFSET = 1_000_000_000;

export const DlqQuery = z.strictObject({
  limit: queryInt(1, 1000, 100),
  offset: queryInt(0, MAX_DLQ_OFFSET, 0),
});
export type DlqQuery = z.infer<typeof DlqQuery>;

/** A Redis Stream entry id (`1700000000000-0`), the cursor of the event history. */
export const EVENT_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;

const MAX_U64 = 2n ** 64n - 1n;

/**
 * Whether `s` is an event id Redis accepts: both parts fit in 64 bits. Twenty digits pass the
 * pattern but may not (`99999999999999999999-0`), and XRANGE refuses those with an error that
 * would otherwise surface as a 500 (found by tests/api/fuzz.test.ts).
 */
export function isEventId(s: string): boolean {
  return EVENT_ID_PATTERN.test(s) && s.split('-').every((part) => BigInt(part) <= MAX_U64);
}

export const LogsQuery = z.strictObject({
  after: z.string({ error: 'not an event id (e.g. 1700000000000-0)' }).refine(isEventId, 'not an event id (e.g. 1700000000000-0)').optional(),
  limit: queryInt(1, 1000, 500),
});
export type LogsQuery = z.infer<typeof LogsQuery>;

/**
 * `prefix` and `cursor` are workspace paths (the cursor is the last path of the previous page);
 * their path rules live in the workspace package, which the route applies after this.
 */
export const FilesQuery = z.strictObject({
  prefix: z.string({ error: 'a workspace directory' }).max(1024).default(''),
  limit: queryInt(1, 10_000, 1000),
  cursor: z.string({ error: 'not a cursor returned by this endpoint' }).min(1).max(1024).optional(),
});
export type FilesQuery = z.infer<typeof FilesQuery>;
