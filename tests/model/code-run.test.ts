import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { startStack, type Stack } from '../helpers/stack';

/**
 * A model-driven run that writes a Python script with fs.write, runs it with code.run in the
 * local sandbox, and answers with what the script printed (read from the tool result the
 * worker sent back to the model).
 */
describe('a model run that writes and runs code', () => {
  let model: FakeModel;
  let stack: Stack;
  beforeAll(async () => {
    model = await startFakeModel();
    stack = await startStack({ workers: 1, label: 'code-run', env: { LLM_BASE_URL: model.url, LLM_MODEL: 'test-model', EXECUTOR: 'local' } });
  });
  afterAll(async () => {
    await stack.stop();
    await model.close();
  });

  it('writes a Python script, runs it with code.run, and answers with its output', async () => {
    const script = 'import json, pathlib\nnums = [int(x) for x in pathlib.Path("nums.txt").read_text().split()]\nprint("sum", sum(nums))\npathlib.Path("out.json").write_text(json.dumps({"sum": sum(nums)}))\n';
    model.script(
      {
        toolCalls: [
          { name: 'fs.write', arguments: { path: 'nums.txt', content: '1 2 3 4 5\n' } },
          { name: 'fs.write', arguments: { path: 'sum.py', content: script } },
        ],
      },
      { toolCalls: [{ name: 'code.run', arguments: { language: 'python', source: 'exec(open("sum.py").read())' } }] },
    );
    // The last turn answers from the tool result the model was sent.
    model.fallback = () => {
      const last = model.requests.at(-1)!.messages.filter((m) => m.role === 'tool').at(-1)!;
      const result = JSON.parse(last.content);
      return { content: `The script printed: ${String(result.stdout ?? result.result?.stdout).trim()}` };
    };
    const { body } = await stack.execute({ action: 'create', prompt: 'Sum the numbers with a Python script', start: true });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 60_000);
    expect([run.status, run.error]).toEqual(['succeeded', undefined]);
    expect(run.result).toBe('The script printed: sum 15');
    const exec = run.steps.find((s: { tool: string }) => s.tool === 'code.run');
    expect(exec.output).toMatchObject({ exit_code: 0, stdout: 'sum 15\n', files_changed: [{ path: 'out.json', change: 'created' }] });
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/out.json`)).body).toEqual({ sum: 15 });
    // code.run was offered to the model, with its schema.
    const offered = (model.requests[0]!.tools as Array<{ function: { name: string } }>).map((t) => t.function.name);
    expect(offered).toEqual(expect.arrayContaining(['code__run', 'shell__exec']));
    // Its output streamed as a log event naming the stream.
    const logs = (await stack.api('GET', `/agent/logs/${body.run_id}?limit=1000`)).body.events;
    expect(logs.some((e: { type: string; stream?: string; message?: string }) => e.type === 'log' && e.stream === 'stdout' && e.message === 'sum 15')).toBe(true);
  });
});
