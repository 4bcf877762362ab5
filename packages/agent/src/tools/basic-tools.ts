import { z } from 'zod';
import { ToolError } from '@agentyard/core';
import { defineTool, type ToolDefinition } from '../tool';
import { sleep } from './abortable';
import { FailOutput, LogOutput, WaitOutput } from './output-schemas';

export function createBasicTools(): ToolDefinition[] {
  return [
    defineTool({
      name: 'log',
      description: 'Write a line to the run log; repeat writes it that many times (for trying a chatty run).',
      args: z.strictObject({
        message: z.string().min(1).max(10_000),
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
        repeat: z.int().min(1).max(100_000).default(1),
      }),
      output: LogOutput,
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 10,
      async run({ message, level, repeat }, ctx) {
        for (let i = 0; i < repeat; i++) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          await ctx.log(level, message);
        }
        return { logged: true, lines: repeat };
      },
    }),
    defineTool({
      name: 'wait',
      description: 'Wait for a number of seconds; stops at once when the run is cancelled.',
      args: z.strictObject({ seconds: z.number().min(0).max(3600) }),
      output: WaitOutput,
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 3700,
      async run({ seconds }, ctx) {
        await sleep(seconds * 1000, ctx.signal);
        return { waited_s: seconds };
      },
    }),
    defineTool({
      name: 'fail',
      description:
        'Fail with a message. retryable decides between backoff-and-retry and dead-lettering; ' +
        'times, when given, fails only the first that many attempts of the step.',
      args: z.strictObject({
        message: z.string().min(1).max(2000),
        retryable: z.boolean().default(false),
        times: z.int().min(1).max(100).optional(),
      }),
      output: FailOutput,
      side_effects: 'none',
      requires_approval: false,
      timeout_s: 10,
      async run({ message, retryable, times }, ctx) {
        if (times !== undefined && ctx.attempt > times) return { failed: false, attempt: ctx.attempt };
        throw new ToolError('tool_failed', message, retryable);
      },
    }),
  ];
}
