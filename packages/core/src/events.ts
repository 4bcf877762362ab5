import type { ErrorData } from './errors';
import type { RunStatus, StepStatus } from './run';

export const EVENT_TYPES = ['status', 'log', 'token', 'step', 'approval', 'end', 'reset'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Who asked for a change of a run (cancel, approve, reject, retry, DLQ replay): the audit
 * trail the run's events carry as `by`. `subject` names the credential (an API key's digest
 * prefix or a JWT's `sub`), never the credential itself.
 */
export interface Actor {
  tenant: string;
  subject: string;
}

export interface StatusPayload {
  status: RunStatus;
  previous: RunStatus | null;
  error?: ErrorData;
  /** Present when a person (a principal) caused the change. */
  by?: Actor;
}
export interface LogPayload {
  level: LogLevel;
  message: string;
  step_id?: string;
}
export interface StepPayload {
  step_id: string;
  tool: string;
  phase: Exclude<StepStatus, 'pending' | 'running'> | 'started';
  attempt: number;
  duration_ms?: number;
  output?: unknown;
  error?: ErrorData;
}
export interface EndPayload {
  status: RunStatus;
}

/** One entry of a run's event log as clients see it (`id` is the Redis Stream entry id). */
export interface RunEvent {
  id: string;
  run_id: string;
  seq: number;
  ts: string;
  type: EventType;
  [key: string]: unknown;
}
