import { z } from 'zod';
import { listPrefixProblem, normaliseListPrefix, pathProblem } from '@agentyard/workspace';
import { defineTool, type ToolDefinition } from '../tool';
import { listDirectory } from './list-directory';
import { FsDeleteOutput, FsListOutput, FsReadOutput, FsWriteOutput } from './output-schemas';

/** A workspace-relative path, rejected at create time when it could escape the workspace. */
const WorkspacePath = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((p, ctx) => {
    const problem = pathProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A directory of the workspace: `""` and `"."` are its root. */
const DirectoryPath = z
  .string()
  .max(1024)
  .superRefine((p, ctx) => {
    const problem = listPrefixProblem(p);
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
      output: FsReadOutput,
      side_effects: 'none',
      requires_approval: false,
      // A whole 1 MiB file as JSON: base64 or escapes make it larger than the file itself.
      output_limit_kb: 1536,
      timeout_s: 60,
      examples: [{ args: { path: 'notes/hello.txt' } }],
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
      output: FsWriteOutput,
      side_effects: 'reversible',
      requires_approval: false,
      timeout_s: 60,
      // Writing the same content again leaves the same file.
      idempotency: 'idempotent',
      examples: [{ args: { path: 'notes/hello.txt', content: 'hello' } }],
      async run({ path, content, encoding }, ctx) {
        const { size } = await ctx.workspace.write(path, Buffer.from(content, encoding), { signal: ctx.signal });
        return { path, size };
      },
    }),
    defineTool({
      name: 'fs.list',
      description:
        'List a directory of the run workspace ("" or "." for the root): its files and subdirectories, or with recursive=true every file below it.',
      args: z
        .strictObject({
          path: DirectoryPath.optional().describe('the directory to list; default the root'),
          /**
           * `ls`, not `find`: false by default, as a directory listing is everywhere else (ls,
           * os.listdir, readdir). `prefix`, the older name of `path`, lists recursively as it always did.
           */
          recursive: z.boolean().optional().describe('list every file below the directory; default false'),
          prefix: DirectoryPath.optional().describe('deprecated: use path (with prefix, recursive defaults to true)'),
          limit: z.int().min(1).max(10_000).default(1000),
        })
        .refine((a) => a.path === undefined || a.prefix === undefined, { message: 'give path, or its deprecated alias prefix, not both', path: ['prefix'] }),
      output: FsListOutput,
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 60,
      async run({ path, prefix, recursive, limit }, ctx) {
        const dir = normaliseListPrefix(path ?? prefix ?? '', path === undefined && prefix !== undefined ? 'prefix' : 'path');
        const deep = recursive ?? (path === undefined && prefix !== undefined);
        const listing = await listDirectory(ctx.workspace, dir, { recursive: deep, limit, signal: ctx.signal });
        return { path: dir, recursive: deep, ...listing };
      },
    }),
    defineTool({
      name: 'fs.delete',
      description: 'Delete a file of the run workspace.',
      args: z.strictObject({ path: WorkspacePath }),
      output: FsDeleteOutput,
      side_effects: 'irreversible',
      requires_approval: false,
      timeout_s: 60,
      async run({ path }, ctx) {
        return { path, deleted: await ctx.workspace.delete(path) };
      },
    }),
  ];
}
