import { z } from 'zod';
import type { ErrorData } from './errors';

export const RUN_STATUSES = [
  'created',
  'queued',
  'running',
  'awaiting_approval',
  'failed',
  'succeeded',
  'dead_lettered',
  'cancelled',
] as const;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;

/** Statuses after which nothing happens unless someone retries or replays. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'dead_lettered', 'cancelled'];
export const isTerminal = (s: RunStatus): boolean => TERMINAL_STATUSES.includes(s);

export const STEP_STATUSES = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'awaiting_approval',
  'cancelled',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9_.\/-]{0,61}[A-Za-z0-9])?$/;

export const RunOptions = z.strictObject({
  priority: z.enum(PRIORITIES).default('normal'),
  max_attempts: z.int().min(1).max(10).default(3),
  /** Wall-clock budget of the whole run, counted from its first start. */
  timeout_s: z.int().min(1).max(7 * 24 * 3600).default(3600),
  max_steps: z.int().min(1).max(1000).default(100),
  approval: z.enum(['never', 'writes', 'all']).default('never'),
  model: z.string().min(1).max(200).optional(),
  /** Tokens (prompt + completion) the run's model turns may use in total. */
  max_tokens: z.int().min(1).max(100_000_000).optional(),
  labels: z
    .record(z.string().regex(LABEL_KEY, 'label keys are 1-63 letters, digits, _ . / -'), z.string().max(256))
    .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels')
    .optional(),
});
export type RunOptions = z.infer<typeof RunOptions>;

export const STEP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const StepSpec = z.strictObject({
  id: z.string().regex(STEP_ID_PATTERN, 'step ids are 1-64 letters, digits, _ . - and start with a letter or digit').optional(),
  tool: z.string().min(1).max(100),
  args: z.record(z.string(), z.unknown()).default({}),
  needs: z.array(z.string().min(1).max(64)).max(100).default([]),
  timeout_s: z.int().min(1).max(24 * 3600).optional(),
});
export type StepSpec = z.infer<typeof StepSpec>;

/** A step as stored on the run: the id is always filled in. */
export interface PlannedStep {
  id: string;
  tool: string;
  args: Record<string, unknown>;
  needs: string[];
  timeout_s?: number;
}

export interface ApprovalDecision {
  decision: 'approved' | 'rejected';
  comment?: string;
  decided_at: string;
  /** Who decided (the decide script adds it). */
  by?: import('./events').Actor;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** The mutable part of a step, checkpointed in Redis as it runs. */
export interface StepState {
  status: StepStatus;
  approval?: ApprovalDecision;
  /** Model turns only: tokens of this turn. */
  usage?: TokenUsage;
  attempts: number;
  /**
   * While running: the earlier attempt whose execution this one picks up (its worker died
   * before an outcome), so a chain of crashes keeps pointing at the one command started.
   */
  resumes_attempt?: number;
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  output?: unknown;
  error?: ErrorData;
}

export type StepView = PlannedStep & StepState;

/**
 * A step the model planner added while the run went (a model turn or a tool call): its
 * spec is stored with its state because it is not part of the run as created.
 */
export interface DynamicStep extends StepState {
  id: string;
  tool: string;
  args: Record<string, unknown>;
  needs: string[];
  /** Position in the run's step list. */
  order: number;
}

/** A run as the API returns it. */
export interface Run {
  id: string;
  tenant: string;
  status: RunStatus;
  workspace_id: string;
  prompt?: string;
  options: RunOptions;
  attempts: number;
  created_at: string;
  queued_at?: string;
  started_at?: string;
  finished_at?: string;
  error?: ErrorData;
  result?: unknown;
  /** Token totals of the run's model turns (per-turn figures are on each model step). */
  usage?: TokenUsage & { total_tokens: number };
  steps: StepView[];
}
