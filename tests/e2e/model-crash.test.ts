import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

describe('model run on real worker processes', () => {
  let model: FakeModel;
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    model = await startFakeModel();
    stack = await startStack({ label: 'e2e-model', env: { LLM_BASE_URL: model.url } });
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await stack.stop();
    await model.close();
  });

  it('finishes on a second worker after kill -9 mid-conversation: no turn asked twice, no tool call run twice', async () => {
    model.script(
      { content: 'Writing, then waiting.', toolCalls: [{ name: 'fs.write', arguments: { path: 'once.txt', content: 'written' } }, { name: 'wait', arguments: { seconds: 3 } }] },
      { content: 'All done.' },
    );
    const first = spawnWorker(stack.env);
    procs.push(first);
    const { body } = await stack.execute({ action: 'create', prompt: 'write then wait', start: true });
    await waitFor(
      async () => {
        const run = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
        const byId = Object.fromEntries(run.steps.map((s: { id: string; status: string }) => [s.id, s.status]));
        return byId['m1.t1'] === 'succeeded' && byId['m1.t2'] === 'running';
      },
      { label: 'the write to finish and the wait to run', timeoutMs: 20_000 },
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnWorker(stack.env);
    procs.push(second);

    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.result).toBe('All done.');
    expect(model.requests).toHaveLength(2);
    const events = (await stack.api('GET', `/agent/logs/${body.run_id}?limit=1000`)).body.events as Array<Record<string, any>>;
    const starts = (id: string) => events.filter((e) => e.type === 'step' && e.step_id === id && e.phase === 'started').length;
    expect(starts('m1')).toBe(1);
    expect(starts('m1.t1')).toBe(1);
    expect(starts('m1.t2')).toBe(2);
    expect(starts('m2')).toBe(1);
    const toolResults = model.requests[1]!.messages.filter((m) => m.role === 'tool');
    expect(toolResults).toHaveLength(2);
    expect(new Set(toolResults.map((m) => m.tool_call_id)).size).toBe(2);
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/once.txt`)).body).toBe('written');
    second.child.kill('SIGTERM');
    await second.exited;
  });
});
