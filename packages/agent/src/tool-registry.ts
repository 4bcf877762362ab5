import { z } from 'zod';
import { ValidationError, issuesToDetails } from '@agentyard/core';
import type { SideEffects, ToolDefinition } from './tool';

export interface ToolCatalogEntry {
  name: string;
  description: string;
  args_schema: unknown;
  requires_approval: boolean;
  side_effects: SideEffects;
  timeout_s: number;
}

export interface ToolRegistry {
  get(name: string): ToolDefinition | undefined;
  list(): ToolDefinition[];
  catalog(): ToolCatalogEntry[];
  /**
   * Parse `args` with the tool's schema; a mismatch is a 400 whose paths start at
   * `basePath` (e.g. `steps[2].args.path`). An unknown tool is a 400 on `toolPath`.
   */
  validate(name: string, args: unknown, paths: { tool: string; args: string }): unknown;
}

/**
 * `unavailable`: tools this deployment knows of but cannot run, with why (shell.exec without
 * an executor): naming one is a 400 that says so, rather than "unknown tool".
 */
export function createToolRegistry(tools: ToolDefinition[], opts: { unavailable?: Record<string, string> } = {}): ToolRegistry {
  const byName = new Map<string, ToolDefinition>();
  for (const t of tools) {
    if (byName.has(t.name)) throw new Error(`tool "${t.name}" is registered twice`);
    byName.set(t.name, t);
  }
  // JSON Schemas are derived once; they never change while the process runs.
  const catalog = [...byName.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => ({
      name: t.name,
      description: t.description,
      args_schema: z.toJSONSchema(t.args, { io: 'input', unrepresentable: 'any' }),
      requires_approval: t.requires_approval,
      side_effects: t.side_effects,
      timeout_s: t.timeout_s,
    }));
  return {
    get: (name) => byName.get(name),
    list: () => [...byName.values()],
    catalog: () => catalog,
    validate(name, args, paths) {
      const tool = byName.get(name);
      const why = opts.unavailable?.[name];
      if (!tool && why !== undefined) throw ValidationError.field(paths.tool, `"${name}" is not available here: ${why}`);
      if (!tool) {
        const known = [...byName.keys()].sort().join(', ');
        throw ValidationError.field(paths.tool, `unknown tool "${name}" (known: ${known})`);
      }
      const r = tool.args.safeParse(args);
      if (!r.success) {
        const details = issuesToDetails(r.error.issues, paths.args);
        throw new ValidationError(`${details[0]!.path}: ${details[0]!.message}`, details);
      }
      return r.data;
    },
  };
}
