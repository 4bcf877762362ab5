import { z } from 'zod';
import type { ExecRequest, ExecResult, Language } from '@agentyard/executor';
import { listPrefixProblem } from '@agentyard/workspace';
import { defineTool, type ToolContext, type ToolDefinition } from '../tool';
import { createOutputLog } from './output-log';
import { ExecOutput } from './output-schemas';

/** What the exec tools need of an executor: run one command. */
export type ExecRunner = (req: ExecRequest) => Promise<ExecResult>;

export const EXEC_TOOL_NAMES = ['shell.exec', 'code.run'] as const;

const MAX_SOURCE = 1024 * 1024;
const MAX_TIMEOUT_S = 3600;

const Cwd = z
  .string()
  .max(1024)
  .superRefine((p, ctx) => {
    const problem = listPrefixProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const Env = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are letters, digits and _'), z.string().max(32 * 1024))
  .refine((e) => Object.keys(e).length <= 64, 'at most 64 variables');
const TimeoutS = z.int().min(1).max(MAX_TIMEOUT_S).default(60);

/** How code.run hands the source to each interpreter: on stdin, so its size is not bound by ARG_MAX. */
const INTERPRETERS: Record<Language, (args: string[]) => string[]> = {
  python: (args) => ['python3', '-', ...args],
  node: (args) => ['node', '-', ...args],
  bash: (args) => ['bash', '-s', '--', ...args],
};

/**
 * shell.exec and code.run, run by the configured executor (a bubblewrap sandbox or a
 * Kubernetes Job). A non-zero exit is a normal result the model can read; a timeout, an
 * out-of-memory kill and an executor failure are errors with their retry decision (ExecError).
 * Output lines stream as `log` events (`stream` names stdout or stderr), coalesced and capped
 * at `maxLogLines` per step.
 */
export function createExecTools(opts: { run: ExecRunner; maxLogLines: number }): ToolDefinition[] {
  const exec = async (ctx: ToolContext, req: Omit<ExecRequest, 'runId' | 'stepId' | 'attempt' | 'tenant' | 'workspace' | 'signal' | 'onOutput'>) => {
    // A command a dead worker left running has the attempt of that execution: the
    // Kubernetes executor then reattaches to its Job instead of starting the command again.
    const attempt = ctx.interruptedAttempt ?? ctx.attempt;
    const output = createOutputLog({
      sink: (level, message, extra) => ctx.log(level, message, extra),
      maxLines: opts.maxLogLines,
      whereKept: `.agent/exec/${ctx.stepId}/${attempt}/ (stdout.txt, stderr.txt) once the output passes the result's cap`,
    });
    try {
      return await opts.run({
        ...req,
        runId: ctx.runId,
        stepId: ctx.stepId,
        attempt,
        tenant: ctx.tenant,
        workspace: ctx.workspace,
        signal: ctx.signal,
        onOutput: (stream, line) => output.line(stream, line),
      });
    } finally {
      await output.close();
    }
  };

  return [
    defineTool({
      name: 'shell.exec',
      description:
        'Run a command in a sandbox holding the run workspace (cwd is its root unless `cwd` says otherwise): ' +
        '`command` is run by /bin/sh -c, or give `argv` to run a program without a shell. No network. ' +
        'Returns {exit_code, stdout, stderr, truncated, duration_ms, files_changed}; files the command writes are kept in the workspace.',
      args: z
        .strictObject({
          command: z.string().min(1).max(MAX_SOURCE).optional(),
          argv: z.array(z.string().max(MAX_SOURCE)).min(1).max(1000).optional(),
          cwd: Cwd.optional(),
          env: Env.optional(),
          stdin: z.string().max(MAX_SOURCE).optional(),
          timeout_s: TimeoutS,
        })
        .refine((a) => (a.command === undefined) !== (a.argv === undefined), { message: 'give exactly one of command and argv', path: ['command'] }),
      output: ExecOutput,
      side_effects: 'irreversible',
      requires_approval: false,
      // Anywhere in the workspace, whatever paths a session allows: see the sessions policy.
      scope: 'sandbox',
      // The command's own timeout_s is enforced by the executor; this bounds the step around it.
      timeout_s: MAX_TIMEOUT_S + 300,
      async run(a, ctx) {
        return exec(ctx, {
          argv: a.argv ?? ['/bin/sh', '-c', a.command!],
          ...(a.cwd ? { cwd: a.cwd } : {}),
          ...(a.env ? { env: a.env } : {}),
          ...(a.stdin !== undefined ? { stdin: a.stdin } : {}),
          timeoutS: a.timeout_s,
        });
      },
    }),
    defineTool({
      name: 'code.run',
      description:
        'Run a program in a sandbox holding the run workspace: `language` python (python3), node or bash, its `source`, ' +
        'and `args` for it. No network. Returns {exit_code, stdout, stderr, truncated, duration_ms, files_changed}.',
      args: z.strictObject({
        language: z.enum(['python', 'node', 'bash']),
        source: z.string().min(1).max(MAX_SOURCE),
        args: z.array(z.string().max(32 * 1024)).max(100).default([]),
        timeout_s: TimeoutS,
      }),
      output: ExecOutput,
      side_effects: 'irreversible',
      requires_approval: false,
      // Anywhere in the workspace, whatever paths a session allows: see the sessions policy.
      scope: 'sandbox',
      timeout_s: MAX_TIMEOUT_S + 300,
      async run(a, ctx) {
        return exec(ctx, { argv: INTERPRETERS[a.language](a.args), stdin: a.source, language: a.language, timeoutS: a.timeout_s });
      },
    }),
  ];
}
