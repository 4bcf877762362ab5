import { BudgetExceededError, ToolError, type ErrorData, type PlannedStep } from '@agentyard/core';
import type { EventLog } from '@agentyard/events';
import type { RunStore, StoredRun, TokenBudget, Reservation } from '@agentyard/runs';
import type { Workspace } from '@agentyard/workspace';
import { approvalVerdict } from '../approval-gate';
import { AwaitingApprovalError, StaleRunError } from '../run-errors';
import type { StepRunner } from '../step-runner';
import type { ToolRegistry } from '../tool-registry';
import { estimateTokens, type ChatMessage, type ModelClient, type ToolCall } from './model-client';
import type { ModelBreakers } from './model-breaker';
import { createTokenStream, fromFunctionName, functionSchemas, renderToolResult, SYSTEM_PROMPT } from './model-turns';

export interface ModelDeps {
  client: ModelClient;
  breakers: ModelBreakers;
  defaultModel: string;
  maxCompletionTokens: number;
  timeoutS: number;
  /** Tenant daily budgets; absent means unlimited. */
  budget?: { tokens: TokenBudget; dailyLimit(tenant: string): number };
}

/**
 * Drives a prompt run with a model: ask, run the tool calls it makes (each a step), feed
 * back their results, until it answers without a tool call. The transcript is
 * checkpointed with every step, so a resumed run continues where it stopped: turns the
 * model already answered are not asked again, and tool calls that already have a
 * recorded result are not run again.
 */
export async function runModelConversation(opts: {
  run: StoredRun;
  signal: AbortSignal;
  runner: StepRunner;
  tools: ToolRegistry;
  events: EventLog;
  store: RunStore;
  workspace: Workspace;
  model: ModelDeps;
}): Promise<{ result: unknown }> {
  const { run, runner, tools, events, model, signal } = opts;
  const runId = run.doc.id;
  const options = run.doc.options;
  const transcript = (await opts.store.transcript(runId)) as ChatMessage[];
  const orders = new Map(run.dynamicSteps.map((s) => [s.id, s.order]));
  let lastOrder = Math.max(0, ...orders.values());
  const orderOf = (id: string) => orders.get(id) ?? (orders.set(id, ++lastOrder), lastOrder);
  let used = run.usage.prompt_tokens + run.usage.completion_tokens;
  const schemas = functionSchemas(tools);
  const base: ChatMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: run.doc.prompt ?? '' },
  ];
  const turns = () => transcript.filter((m) => m.role === 'assistant').length;

  if (transcript.length > 0) {
    await events.append(runId, 'log', { level: 'info', message: `resuming the conversation after ${turns()} model turns` });
  }

  const checkStepBudget = (id: string) => {
    if (!orders.has(id) && lastOrder + 1 > options.max_steps) {
      throw new BudgetExceededError(`the run reached options.max_steps (${options.max_steps})`);
    }
  };

  const toolCall = async (call: ToolCall, turn: number, index: number): Promise<void> => {
    const stepId = `m${turn}.t${index + 1}`;
    checkStepBudget(stepId);
    const name = fromFunctionName(call.function.name);
    const tool = tools.get(name);
    let args: unknown;
    let problem: string | undefined;
    try {
      args = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
    } catch {
      problem = 'arguments are not valid JSON';
    }
    const step: PlannedStep = {
      id: stepId,
      tool: name,
      args: typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : { raw: call.function.arguments },
      needs: [`m${turn}`],
    };
    const order = orderOf(stepId);
    const reply = (content: string): ChatMessage => ({ role: 'tool', tool_call_id: call.id, content });
    if (!problem && !tool) problem = `unknown tool "${name}"; available: ${tools.list().map((t) => t.name).join(', ')}`;
    if (!problem && tool) {
      const parsed = tool.args.safeParse(step.args);
      if (!parsed.success) problem = `invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
    }
    if (problem) {
      // The model made a mistake it can fix: tell it, as the result of this call.
      const error: ErrorData = { code: 'invalid_tool_call', message: problem, retryable: false };
      const message = reply(JSON.stringify({ error: problem }));
      await runner.record(step, { status: 'failed', attempts: 1, error }, { phase: 'failed', attempt: 1, error }, { order, transcript: message });
      transcript.push(message);
      return;
    }
    const current = runner.state.get(stepId);
    const verdict = approvalVerdict(tool!, options.approval, current);
    if (verdict === 'ask') {
      const attempts = current?.attempts ?? 0;
      await runner.record(step, { status: 'awaiting_approval', attempts }, { phase: 'awaiting_approval', attempt: attempts }, { order });
      throw new AwaitingApprovalError({ step_id: stepId, tool: name, args: step.args });
    }
    if (verdict === 'rejected') {
      const comment = current?.approval?.comment;
      const error: ErrorData = { code: 'rejected', message: `rejected by a person${comment ? `: ${comment}` : ''}`, retryable: false };
      const message = reply(JSON.stringify({ error: `${error.message}. Do not try this call again.` }));
      await runner.record(step, { status: 'failed', attempts: current?.attempts ?? 0, error, ...(current?.approval ? { approval: current.approval } : {}) }, { phase: 'failed', attempt: current?.attempts ?? 0, error }, { order, transcript: message });
      transcript.push(message);
      return;
    }
    let full: unknown;
    try {
      full = await runner.run(step, signal, {
        order,
        transcript: {
          succeeded: (output) => reply(renderToolResult(stepId, output).content),
          // A permanent failure is the model's to handle; a retryable one retries the run.
          failed: (error) => (error.retryable ? undefined : reply(JSON.stringify({ error: error.message, code: error.code }))),
        },
      });
    } catch (err) {
      const e = err as { retryable?: boolean };
      if (err instanceof ToolError && !e.retryable) {
        transcript.push(reply(JSON.stringify({ error: err.message, code: err.code })));
        return;
      }
      throw err;
    }
    const rendered = renderToolResult(stepId, full);
    transcript.push(reply(rendered.content));
    if (rendered.truncated) {
      await opts.workspace.write(`.agent/outputs/${stepId}.json`, JSON.stringify(full), { contentType: 'application/json' }).catch(() => undefined);
    }
  };

  const askModel = async (turn: number): Promise<ChatMessage> => {
    const stepId = `m${turn}`;
    checkStepBudget(stepId);
    if (options.max_tokens !== undefined && used >= options.max_tokens) {
      throw new BudgetExceededError(`the run used its options.max_tokens (${options.max_tokens})`);
    }
    const messages = [...base, ...transcript];
    const estimate = estimateTokens(messages);
    let completion = model.maxCompletionTokens;
    if (options.max_tokens !== undefined) completion = Math.min(completion, options.max_tokens - used - estimate);
    if (completion < 16) throw new BudgetExceededError(`the run used its options.max_tokens (${options.max_tokens})`);
    let reservation: Reservation | undefined;
    if (model.budget) {
      const limit = model.budget.dailyLimit(run.doc.tenant);
      let r = await model.budget.tokens.reserve(run.doc.tenant, estimate + completion, limit);
      if (!r.ok && r.left - estimate >= 16) {
        completion = r.left - estimate;
        r = await model.budget.tokens.reserve(run.doc.tenant, estimate + completion, limit);
      }
      if (!r.ok) {
        throw new BudgetExceededError(`tenant ${run.doc.tenant} used its daily token budget (${limit})`, model.budget.tokens.resetsInS());
      }
      reservation = r.reservation;
    }
    const modelName = options.model ?? model.defaultModel;
    const tokens = createTokenStream(events, runId, stepId);
    let actual = 0;
    let answer: ChatMessage | undefined;
    try {
      await runner.run({ id: stepId, tool: 'model', args: { model: modelName, turn }, needs: [] }, signal, {
        order: orderOf(stepId),
        timeoutS: model.timeoutS + 5,
        work: async (sig) => {
          const res = await model.breakers.fire(model.client.endpoint, () =>
            model.client.chat({ model: modelName, messages, tools: schemas, max_tokens: completion }, { signal: sig, onToken: (t) => tokens.push(t) }),
          );
          await tokens.done();
          actual = res.usage.prompt_tokens + res.usage.completion_tokens;
          answer = res.message;
          if (!res.streamed && res.message.content) {
            await events.append(runId, 'log', { level: 'info', message: res.message.content, step_id: stepId });
          }
          const calls = res.message.tool_calls ?? [];
          return {
            output: { content: res.message.content, tool_calls: calls.map((c) => ({ id: c.id, tool: fromFunctionName(c.function.name), arguments: c.function.arguments })) },
            usage: res.usage,
            transcript: res.message,
          };
        },
      });
      used += actual;
      transcript.push(answer!);
      return answer!;
    } finally {
      if (reservation) await model.budget!.tokens.settle(reservation, actual).catch(() => undefined);
    }
  };

  for (;;) {
    if (signal.aborted) throw signal.reason;
    // The latest model turn, and which of its tool calls already have a recorded result.
    const lastTurn = transcript.map((m) => m.role).lastIndexOf('assistant');
    const last = lastTurn >= 0 ? transcript[lastTurn]! : undefined;
    if (last) {
      const calls = last.tool_calls ?? [];
      if (calls.length === 0) return { result: last.content ?? '' };
      const answered = new Set(transcript.slice(lastTurn + 1).filter((m) => m.role === 'tool').map((m) => m.tool_call_id));
      const pending = calls.map((c, i) => ({ c, i })).filter(({ c }) => !answered.has(c.id));
      if (pending.length > 0) {
        const turn = turns();
        const settled = await Promise.allSettled(pending.map(({ c, i }) => toolCall(c, turn, i)));
        const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
        const stale = failures.find((f) => f instanceof StaleRunError);
        const hard = stale ?? failures.find((f) => !(f instanceof AwaitingApprovalError)) ?? failures[0];
        if (hard !== undefined) throw hard;
        continue;
      }
    }
    await askModel(turns() + 1);
  }
}
