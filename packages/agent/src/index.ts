export * from './tool';
export * from './tool-registry';
export * from './static-planner';
export * from './supervisor';
export * from './run-errors';
export * from './approval-gate';
export type { StepOutcome } from './step-runner';
export { createModelClient, ModelError, parseRetryAfter, type ModelClient, type ChatMessage } from './model/model-client';
export { createModelBreakers, type ModelBreakers, type BreakerState } from './model/model-breaker';
export type { ModelDeps } from './model/model-run';
export { createFileTools } from './tools/fs-tools';
export { createBasicTools } from './tools/basic-tools';
export { abortable, sleep } from './tools/abortable';

export { createExecTools, EXEC_TOOL_NAMES, type ExecRunner } from './tools/exec-tools';

import { createBasicTools } from './tools/basic-tools';
import { createExecTools, EXEC_TOOL_NAMES, type ExecRunner } from './tools/exec-tools';
import { createFileTools } from './tools/fs-tools';
import { createToolRegistry, type ToolRegistry } from './tool-registry';

/**
 * The tools of a deployment: workspace files, log, wait, fail, and with an executor
 * (EXECUTOR=local|k8s) shell.exec and code.run. The API passes an `exec` whose runner it never
 * calls (tools execute in workers): the tools then appear in its catalog and validate at create.
 */
export function createDefaultToolRegistry(opts: { exec?: { run: ExecRunner; maxLogLines: number } } = {}): ToolRegistry {
  const base = [...createFileTools(), ...createBasicTools()];
  if (opts.exec) return createToolRegistry([...base, ...createExecTools(opts.exec)]);
  const why = 'shell and code tools need an executor, and this server runs with EXECUTOR=none (set EXECUTOR=local or EXECUTOR=k8s)';
  return createToolRegistry(base, { unavailable: Object.fromEntries(EXEC_TOOL_NAMES.map((n) => [n, why])) });
}
