import { z } from 'zod';
import { pathProblem } from '@agentyard/workspace';
import { defineTool, type ToolDefinition } from '../tool';

/** A workspace-relative path, rejected at create time when it could escape the workspace. */
const WorkspacePath = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((p, ctx) => {
    const problem = pathProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Files larger than this are refused by fs.read; tools return JSON, not bulk data. */
const MAX_READ_BYTES = 1024 * 1024;

export function createFileTools(): ToolDefinition[] {
  return [
    defineTool({
      name: 'fs.read',
      description: 'Read a file of the run workspace (up to 1 MiB) as UTF-8 text or base64.',
      args: z.strictObject({
        path: WorkspacePath,
        encoding: z.enum(['utf8', 'base64']).default('utf8'),
      }),
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 60,
      async run({ path, encoding }, ctx) {
        const body = await ctx.workspace.read(path, { signal: ctx.signal });
        if (body.length > MAX_READ_BYTES) {
          return { path, size: body.length, truncated: true, content: body.subarray(0, MAX_READ_BYTES).toString(encoding) };
        }
        return { path, size: body.length, encoding, content: body.toString(encoding) };
      },
    }),
    defineTool({
      name: 'fs.write',
      description: 'Create or replace a file in the run workspace.',
      args: z.strictObject({
        path: WorkspacePath,
        content: z.string().max(10 * 1024 * 1024),
        encoding: z.enum(['utf8', 'base64']).default('utf8'),
      }),
      side_effects: 'reversible',
      requires_approval: false,
      timeout_s: 60,
      async run({ path, content, encoding }, ctx) {
        const { size } = await ctx.workspace.write(path, Buffer.from(content, encoding), { signal: ctx.signal });
        return { path, size };
      },
    }),
    defineTool({
      name: 'fs.list',
      description: 'List files of the run workspace under a directory prefix ("" for all).',
      args: z.strictObject({
        prefix: z
          .string()
          .max(1024)
          .default('')
          .superRefine((p, ctx) => {
            const problem = p === '' ? undefined : pathProblem(p);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        limit: z.int().min(1).max(10_000).default(1000),
      }),
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 60,
      async run({ prefix, limit }, ctx) {
        const page = await ctx.workspace.list(prefix, { limit, signal: ctx.signal });
        return { prefix, entries: page.entries, truncated: page.next_cursor !== undefined };
      },
    }),
    defineTool({
      name: 'fs.delete',
      description: 'Delete a file of the run workspace.',
      args: z.strictObject({ path: WorkspacePath }),
      side_effects: 'irreversible',
      requires_approval: false,
      timeout_s: 60,
      async run({ path }, ctx) {
        return { path, deleted: await ctx.workspace.delete(path) };
      },
    }),
  ];
}
