import { z } from 'zod';
import { ValidationError, issuesToDetails } from '@agentyard/core';
import type { SideEffects, ToolDefinition } from './tool';

export type RiskLevel = 'low' | 'medium' | 'high';

/** A tool as clients see it: the seed service's capability metadata. */
export interface ToolCatalogEntry {
  name: string;
  description: string;
  input_schema: unknown;
  /** Alias of input_schema, kept while clients move over. */
  args_schema: unknown;
  output_schema: unknown;
  scope: string;
  side_effects: SideEffects;
  risk_level: RiskLevel;
  requires_approval: boolean;
  idempotency: 'idempotent' | 'not_idempotent';
  constraints: { timeout_seconds: number; max_retries: number; output_limit_kb: number };
  examples: { args: Record<string, unknown>; description?: string }[];
  timeout_s: number;
}

/** Risk follows from what a tool can undo: reading is low, a replaceable write medium, the rest high. */
export const RISK_BY_SIDE_EFFECTS: Record<SideEffects, RiskLevel> = { none: 'low', reversible: 'medium', irreversible: 'high' };

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
    .map((t): ToolCatalogEntry => {
      const input = z.toJSONSchema(t.args, { io: 'input', unrepresentable: 'any' });
      return {
        name: t.name,
        description: t.description,
        input_schema: input,
        args_schema: input,
        // Tools return JSON objects; a tool that declares its shape shows it.
        output_schema: t.output ? z.toJSONSchema(t.output, { io: 'output', unrepresentable: 'any' }) : { type: 'object' },
        scope: t.scope ?? 'workspace',
        side_effects: t.side_effects,
        risk_level: RISK_BY_SIDE_EFFECTS[t.side_effects],
        requires_approval: t.requires_approval,
        idempotency: t.idempotency ?? (t.side_effects === 'none' ? 'idempotent' : 'not_idempotent'),
        // Direct invocations are never retried: a retry could run a write twice.
        constraints: { timeout_seconds: t.timeout_s, max_retries: 0, output_limit_kb: t.output_limit_kb ?? 1024 },
        examples: t.examples ?? [],
        timeout_s: t.timeout_s,
      };
    });
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
