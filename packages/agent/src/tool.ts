import type { z } from 'zod';
import type { LogLevel } from '@agentyard/core';
import type { Workspace } from '@agentyard/workspace';

export type SideEffects = 'none' | 'reversible' | 'irreversible';

/** What a tool may touch while it runs. Narrow on purpose: tools never see Redis or config. */
export interface ToolContext {
  /** Aborted on cancel, step or run timeout, or worker shutdown; tools must stop promptly. */
  signal: AbortSignal;
  /** The run's workspace; paths are relative to it. */
  workspace: Workspace;
  runId: string;
  tenant: string;
  stepId: string;
  /** 1 on the first execution of this step, 2 on its first retry, … */
  attempt: number;
  /**
   * The attempt of this step's previous execution when it never came to an outcome (its
   * worker died mid-step): a tool that can find what that execution started (a Kubernetes
   * Job) picks it up instead of starting it again.
   */
  interruptedAttempt?: number;
  /** A `log` event of this step; `extra` fields (e.g. `stream`) join the event. */
  log(level: LogLevel, message: string, extra?: Record<string, unknown>): Promise<void>;
}

export interface ToolDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  args: S;
  side_effects: SideEffects;
  /** Always needs a person's approval before it runs, whatever the run's approval option. */
  requires_approval: boolean;
  /** Default step timeout; a step's own `timeout_s` overrides it. */
  timeout_s: number;
  run(args: z.infer<S>, ctx: ToolContext): Promise<unknown>;
  /** Capability metadata (GET /agent/tools, session tool lists); derived when left out. */
  /** Whether running it twice with the same args has the effect of once. @default side_effects === 'none' ? 'idempotent' : 'not_idempotent' */
  idempotency?: 'idempotent' | 'not_idempotent';
  /** What the tool touches. @default 'workspace' */
  scope?: string;
  /** Largest JSON output a direct invocation may return; past it the invocation fails with output_too_large. @default 1024 */
  output_limit_kb?: number;
  /** The shape of what `run` returns, shown as `output_schema`. @default any object */
  output?: z.ZodType;
  /** Argument examples a client can send as they are. @default [] */
  examples?: { args: Record<string, unknown>; description?: string }[];
}

/** Keeps `run`'s argument type tied to the schema without repeating it. */
export function defineTool<S extends z.ZodType>(def: ToolDefinition<S>): ToolDefinition<S> {
  return def;
}
