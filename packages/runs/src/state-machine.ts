import type { RunStatus } from '@agentyard/core';

/**
 * Every allowed status change, by the name of what causes it. The run store applies them
 * atomically with their event; anything else is an `invalid_state` (409).
 */
export const TRANSITIONS = {
  start: { from: ['created'], to: 'queued' },
  /** A worker picks the run up: first time, after backoff, or after a crashed worker. */
  pickup: { from: ['queued', 'failed', 'running'], to: 'running' },
  succeed: { from: ['running'], to: 'succeeded' },
  /** Retryable failure with attempts left: BullMQ brings it back after backoff. */
  fail: { from: ['running'], to: 'failed' },
  deadLetter: { from: ['queued', 'running', 'failed'], to: 'dead_lettered' },
  cancel: { from: ['created', 'queued', 'running', 'failed', 'awaiting_approval'], to: 'cancelled' },
  retry: { from: ['failed', 'dead_lettered', 'cancelled'], to: 'queued' },
  awaitApproval: { from: ['running'], to: 'awaiting_approval' },
  approve: { from: ['awaiting_approval'], to: 'queued' },
  /** A draining worker hands an unfinished run back without spending an attempt. */
  requeue: { from: ['running'], to: 'queued' },
} as const satisfies Record<string, { from: readonly RunStatus[]; to: RunStatus }>;

export type TransitionName = keyof typeof TRANSITIONS;

export function canTransition(name: TransitionName, from: RunStatus): boolean {
  return (TRANSITIONS[name].from as readonly RunStatus[]).includes(from);
}
