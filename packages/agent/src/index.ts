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

import { createBasicTools } from './tools/basic-tools';
import { createFileTools } from './tools/fs-tools';
import { createToolRegistry, type ToolRegistry } from './tool-registry';

/** The tools every deployment has: workspace files, log, wait, fail. */
export function createDefaultToolRegistry(): ToolRegistry {
  return createToolRegistry([...createFileTools(), ...createBasicTools()]);
}
