import type { RunStatus } from '@agentyard/core';

/**
 * The run engine's status-changing operations: where each may start from and where it
 * leads. The scripts in scripts.ts enforce exactly these (run-store.test.ts checks every
 * operation from every status against this table); anything else is an `invalid_state`.
 */
export const TRANSITIONS = {
  start: { from: ['created'], to: 'queued' },
  /** A worker picks the run up: first time, after backoff, or after a crashed worker. */
  pickup: { from: ['queued', 'failed', 'running'], to: 'running' },
  succeed: { from: ['running'], to: 'succeeded' },
  /** Retryable failure with attempts left: BullMQ brings it back after backoff. */
  fail: { from: ['running'], to: 'failed' },
  deadLetter: { from: ['queued', 'running', 'failed'], to: 'dead_lettered' },
  /** A draining worker or a deferral hands the run back without spending an attempt. */
  handBack: { from: ['running'], to: 'queued' },
  /** The reconciler re-queues a running run whose worker and job are gone. */
  recover: { from: ['running'], to: 'queued' },
  awaitApproval: { from: ['running'], to: 'awaiting_approval' },
  /** A person approves or rejects the step the run waits for. */
  decide: { from: ['awaiting_approval'], to: 'queued' },
  cancel: { from: ['created', 'queued', 'running', 'failed', 'awaiting_approval'], to: 'cancelled' },
  retry: { from: ['failed', 'dead_lettered', 'cancelled'], to: 'queued' },
  /** An operator's replay of a dead letter. */
  replay: { from: ['dead_lettered'], to: 'queued' },
} as const satisfies Record<string, { from: readonly RunStatus[]; to: RunStatus }>;

export type TransitionName = keyof typeof TRANSITIONS;

export function canTransition(name: TransitionName, from: RunStatus): boolean {
  return (TRANSITIONS[name].from as readonly RunStatus[]).includes(from);
}
