import type { RunOptions, StepState } from '@agentyard/core';
import type { ToolDefinition } from './tool';

export type ApprovalVerdict = 'not_needed' | 'approved' | 'rejected' | 'ask';

/**
 * Whether a step may run now. `writes` covers every tool with side effects; `all` covers
 * every tool; a tool that itself requires approval always asks.
 */
export function approvalVerdict(tool: ToolDefinition, mode: RunOptions['approval'], state: StepState | undefined): ApprovalVerdict {
  if (!approvalNeeded(tool, mode)) return 'not_needed';
  if (state?.approval) return state.approval.decision;
  return 'ask';
}

export function approvalNeeded(tool: Pick<ToolDefinition, 'requires_approval' | 'side_effects'>, mode: RunOptions['approval']): boolean {
  return tool.requires_approval || mode === 'all' || (mode === 'writes' && tool.side_effects !== 'none');
}
