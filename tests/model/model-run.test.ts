import { openSse } from '../helpers/sse-client';
import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('model-driven runs', () => {
  let model: FakeModel;
  let stack: Stack;
  beforeAll(async () => {
    model = await startFakeModel();
    stack = await startStack({ workers: 1, label: 'model', env: { LLM_BASE_URL: model.url, LLM_MODEL: 'test-model' } });
  });
  afterAll(async () => {
    await stack.stop();
    await model.close();
  });
  beforeEach(() => {
    model.requests.length = 0;
  });

  it('lists, writes and reads files through tool calls, streams its text, and ends with the model answer as result', async () => {
    model.script(
      { stream: true, content: 'Let me look around.', toolCalls: [{ name: 'fs.list', arguments: {} }], usage: [120, 15] },
      {
        toolCalls: [
          { name: 'fs.write', arguments: { path: 'notes.txt', content: 'first note' } },
          { name: 'log', arguments: { message: 'writing notes' } },
        ],
        usage: [150, 30],
      },
      { toolCalls: [{ name: 'fs.read', arguments: { path: 'notes.txt' } }], usage: [180, 10] },
      { stream: true, content: 'Done: notes.txt says "first note".', usage: [200, 12] },
    );
    const { body } = await stack.execute({ action: 'create', prompt: 'Write a note and read it back', start: true });
    expect(body.status).toBe('queued');
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    await sse.closed;

    const run = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
    expect(run.status).toBe('succeeded');
    expect(run.result).toBe('Done: notes.txt says "first note".');
    expect(run.steps.map((s: { id: string; tool: string; status: string }) => `${s.id}:${s.tool}:${s.status}`)).toEqual([
      'm1:model:succeeded',
      'm1.t1:fs.list:succeeded',
      'm2:model:succeeded',
      'm2.t1:fs.write:succeeded',
      'm2.t2:log:succeeded',
      'm3:model:succeeded',
      'm3.t1:fs.read:succeeded',
      'm4:model:succeeded',
    ]);
    expect(run.steps.find((s: { id: string }) => s.id === 'm3.t1').output).toMatchObject({ content: 'first note' });
    expect(run.steps[0].usage).toEqual({ prompt_tokens: 120, completion_tokens: 15 });
    expect(run.usage).toEqual({ prompt_tokens: 650, completion_tokens: 67, total_tokens: 717 });
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/notes.txt`)).body).toBe('first note');

    const tokens = sse.events.filter((e) => e.event === 'token').map((e) => e.data.text).join('');
    expect(tokens).toBe('Let me look around.Done: notes.txt says "first note".');
    const stepPhases = sse.events.filter((e) => e.event === 'step' && e.data.phase === 'succeeded').map((e) => e.data.step_id);
    // Parallel tool calls of one turn finish in any order.
    expect([...stepPhases].sort()).toEqual(run.steps.map((s: { id: string }) => s.id).sort());
    expect(sse.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });

    // What the model saw: our tool catalog as functions, results fed back by call id.
    expect(model.requests).toHaveLength(4);
    expect(model.requests[0]!.model).toBe('test-model');
    expect(model.requests[0]!.tools.map((t: any) => t.function.name)).toEqual(expect.arrayContaining(['fs__read', 'fs__write', 'fs__list', 'log', 'wait', 'fail']));
    const last = model.requests[3]!.messages;
    expect(last.filter((m) => m.role === 'tool')).toHaveLength(4);
    expect(last.at(-1)).toMatchObject({ role: 'tool', content: expect.stringContaining('first note') });
  });

  it('returns arguments that fail the tool schema to the model as a tool error, and carries on', async () => {
    model.script(
      { toolCalls: [{ name: 'fs.write', arguments: { path: '../escape.txt', content: 'x' } }] },
      { toolCalls: [{ name: 'fs.write', arguments: '{not json' }] },
      { toolCalls: [{ name: 'no.such.tool', arguments: {} }] },
      { content: 'I could not write it.' },
    );
    const { body } = await stack.execute({ action: 'create', prompt: 'Try to escape', start: true });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered']);
    expect(run.status).toBe('succeeded');
    expect(run.result).toBe('I could not write it.');
    const failed = run.steps.filter((s: { status: string }) => s.status === 'failed');
    expect(failed.map((s: { error: { code: string } }) => s.error.code)).toEqual(['invalid_tool_call', 'invalid_tool_call', 'invalid_tool_call']);
    const toolMessages = model.requests[3]!.messages.filter((m) => m.role === 'tool').map((m) => m.content);
    expect(toolMessages[0]).toContain('path');
    expect(toolMessages[1]).toContain('not valid JSON');
    expect(toolMessages[2]).toContain('unknown tool');
  });

  it('truncates large tool results for the model and leaves the full value in the workspace', async () => {
    const big = 'x'.repeat(40_000);
    model.script(
      { toolCalls: [{ name: 'fs.write', arguments: { path: 'big.txt', content: big } }] },
      { toolCalls: [{ name: 'fs.read', arguments: { path: 'big.txt' } }] },
      { content: 'read it' },
    );
    const { body } = await stack.execute({ action: 'create', prompt: 'big', start: true });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const fed = model.requests[2]!.messages.filter((m) => m.role === 'tool').at(-1)!.content as string;
    expect(fed.length).toBeLessThan(17_000);
    expect(fed).toContain('.agent/outputs/m2.t1.json');
    const full = (await stack.api('GET', `/agent/runs/${body.run_id}/files/.agent/outputs/m2.t1.json`)).body;
    expect(full.content).toBe(big);
  });

  it('sends options.model instead of LLM_MODEL when a run names one', async () => {
    model.script({ content: 'hi from the big one' });
    const { body } = await stack.execute({ action: 'create', prompt: 'hi', start: true, options: { model: 'big-model' } });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    expect(model.requests.map((r) => r.model)).toEqual(['big-model']);
  });

  it('dead-letters on a permanent 4xx from the model with the provider message, without retrying', async () => {
    model.script({ status: 400, body: { error: { message: 'model "test-model" does not support tools' } } });
    const { body } = await stack.execute({ action: 'create', prompt: 'hi', start: true, options: { max_attempts: 3 } });
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered', 'succeeded']);
    expect(run.status).toBe('dead_lettered');
    expect(run.attempts).toBe(1);
    expect(run.error).toMatchObject({ code: 'model_error', retryable: false });
    expect(run.error.message).toContain('does not support tools');
  });

  it('retries a 429 after its Retry-After and a 500 with backoff, then succeeds', async () => {
    model.script({ status: 429, headers: { 'Retry-After': '1' } }, { status: 500 }, { content: 'finally' });
    const at = Date.now();
    const { body } = await stack.execute({ action: 'create', prompt: 'hi', start: true, options: { max_attempts: 3 } });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.attempts).toBe(3);
    expect(Date.now() - at).toBeGreaterThanOrEqual(1000);
    const errors = (await stack.api('GET', `/agent/logs/${body.run_id}?limit=1000`)).body.events
      .filter((e: { type: string; status?: string }) => e.type === 'status' && e.status === 'failed')
      .map((e: { error: { code: string } }) => e.error.code);
    expect(errors).toEqual(['model_rate_limited', 'model_unavailable']);
  });
});
