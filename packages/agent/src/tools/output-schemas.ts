import { z } from 'zod';

/**
 * What each tool returns, as the `output_schema` of its capability entry (GET
 * /v1/sessions/:id/tools, /agent/tools). Declared, not enforced at run time: the tools build
 * their results from typed code, and output-schemas.test.ts runs them to keep both in step.
 */
export const FsReadOutput = z.object({
  path: z.string(),
  size: z.int().describe('bytes of the whole file'),
  encoding: z.enum(['utf8', 'base64']).optional(),
  truncated: z.boolean().optional().describe('true when the file is over 1 MiB and content holds its first MiB'),
  content: z.string(),
});
export const FsWriteOutput = z.object({ path: z.string(), size: z.int() });
export const FsListOutput = z.object({
  path: z.string(),
  recursive: z.boolean(),
  entries: z.array(
    z.union([
      z.object({ path: z.string(), type: z.literal('file'), size: z.int(), modified: z.string() }),
      z.object({ path: z.string(), type: z.literal('directory') }),
    ]),
  ),
  truncated: z.boolean(),
});
export const FsDeleteOutput = z.object({ path: z.string(), deleted: z.boolean() });
export const ExecOutput = z.object({
  exit_code: z.int(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean().describe('stdout or stderr was cut at EXECUTOR_OUTPUT_BYTES; the whole streams are in stdout_file, stderr_file'),
  duration_ms: z.number(),
  files_changed: z.array(z.object({ path: z.string(), change: z.enum(['created', 'modified', 'deleted']) })),
  stdout_file: z.string().optional(),
  stderr_file: z.string().optional(),
});
export const LogOutput = z.object({ logged: z.literal(true), lines: z.int() });
export const WaitOutput = z.object({ waited_s: z.number() });
export const FailOutput = z.object({ failed: z.literal(false), attempt: z.int() });
