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

export const ListRunsQuery = z.strictObject({
  status: z.enum(['created', 'queued', 'running', 'awaiting_approval', 'failed', 'succeeded', 'dead_lettered', 'cancelled']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d+:run_[0-9a-z]{26}$/, 'not a cursor returned by this endpoint').optional(),
});
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;
