import type { EventLog } from '@agentyard/events';
import type { ToolRegistry } from '../tool-registry';
import type { ChatRequest } from './model-client';

/**
 * OpenAI function names allow only [A-Za-z0-9_-]; our tools are dotted (`fs.read`), so
 * dots travel as `__` and come back as dots.
 */
export const toFunctionName = (tool: string) => tool.replace(/\./g, '__');
export const fromFunctionName = (fn: string) => fn.replace(/__/g, '.');

export function functionSchemas(tools: ToolRegistry): ChatRequest['tools'] {
  return tools.catalog().map((t) => ({
    type: 'function',
    function: { name: toFunctionName(t.name), description: t.description, parameters: t.args_schema },
  }));
}

export const SYSTEM_PROMPT =
  'You are an agent running inside Agentyard. You work on the files of a workspace through the tools ' +
  'you are given; paths are relative to the workspace. Call tools to do the work (several at once when ' +
  'they are independent). When the task is done, reply with your final answer and no tool call.';

/** Tool results longer than this reach the model truncated, with a note. */
export const MAX_TOOL_RESULT_CHARS = 16_000;

export function renderToolResult(stepId: string, output: unknown): { content: string; truncated: boolean } {
  const json = JSON.stringify(output ?? null);
  if (json.length <= MAX_TOOL_RESULT_CHARS) return { content: json, truncated: false };
  return {
    content:
      `${json.slice(0, MAX_TOOL_RESULT_CHARS)}\n[output truncated: ${json.length} characters in all; ` +
      `the full value is in the workspace at .agent/outputs/${stepId}.json]`,
    truncated: true,
  };
}

/**
 * Streams model text to the run's event log as `token` events, batched so a fast model
 * does not turn every few characters into a Redis write.
 */
export function createTokenStream(events: EventLog, runId: string, stepId: string, flushMs = 100) {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending === '') return chain;
    const text = pending;
    pending = '';
    chain = chain.then(() => events.append(runId, 'token', { step_id: stepId, text })).catch(() => undefined);
    return chain;
  };
  return {
    push(text: string) {
      pending += text;
      if (pending.length >= 512) void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
    },
    /** Resolves once every token so far is in the log. */
    done: () => flush(),
  };
}
