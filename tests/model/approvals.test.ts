import { openSse } from '../helpers/sse-client';
import { startFakeModel, type FakeModel } from '../helpers/fake-model';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

describe('approvals', () => {
  let model: FakeModel;
  let stack: Stack;
  beforeAll(async () => {
    model = await startFakeModel();
    // One worker slot: a run awaiting approval must not hold it.
    stack = await startStack({ workers: 1, label: 'approvals', env: { LLM_BASE_URL: model.url, WORKER_CONCURRENCY: '1' } });
  });
  afterAll(async () => {
    await stack.stop();
    await model.close();
  });

  const plan = {
    action: 'create',
    start: true,
    options: { approval: 'writes' },
    steps: [
      { id: 'look', tool: 'fs.list', args: {} },
      { id: 'write', tool: 'fs.write', args: { path: 'approved.txt', content: 'ok' }, needs: ['look'] },
    ],
  };

  it('parks a static run before a write, frees the worker, runs the step once approved, and refuses a second decision', async () => {
    const { body } = await stack.execute(plan);
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    const asked = await sse.waitFor((e) => e.event === 'approval' && e.data.phase === 'requested', 'the approval request');
    expect(asked.data).toMatchObject({ step_id: 'write', tool: 'fs.write', args: { path: 'approved.txt', content: 'ok' } });
    const waiting = await stack.waitForStatus(body.run_id, ['awaiting_approval']);
    expect(waiting.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['look:succeeded', 'write:awaiting_approval']);

    // No worker slot is held: another run completes on the single slot meanwhile.
    await waitFor(async () => (await stack.api('GET', '/agent/queue/stats')).body.active === 0, { label: 'no active job while waiting' });
    const other = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'meanwhile' } }] });
    await stack.waitForStatus(other.body.run_id, ['succeeded']);

    const approve = await stack.execute({ action: 'approve', run_id: body.run_id, step_id: 'write', comment: 'looks fine' });
    expect(approve.status).toBe(202);
    expect(approve.body).toMatchObject({ status: 'queued', decision: 'approved' });
    const second = await stack.execute({ action: 'reject', run_id: body.run_id, step_id: 'write' });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('invalid_state');

    await sse.closed;
    const run = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
    expect(run.status).toBe('succeeded');
    expect(run.steps[1]).toMatchObject({ status: 'succeeded', attempts: 1, approval: { decision: 'approved', comment: 'looks fine' } });
    expect(sse.events.filter((e) => e.event === 'approval').map((e) => e.data.phase)).toEqual(['requested', 'decided']);
    expect(sse.events.filter((e) => e.event === 'step' && e.data.step_id === 'look' && e.data.phase === 'started')).toHaveLength(1);
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/approved.txt`)).body).toBe('ok');
  });

  it('lets a client decide the moment it sees the approval event, even while a sibling step still runs', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { approval: 'writes' },
      steps: [
        { id: 'slow', tool: 'wait', args: { seconds: 0.6 } },
        { id: 'write', tool: 'fs.write', args: { path: 'sibling.txt', content: 'ok' } },
      ],
    });
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    await sse.waitFor((e) => e.event === 'approval' && e.data.phase === 'requested', 'the approval request');
    // The event comes with the status change, so the run already waits for this decision.
    const approve = await stack.execute({ action: 'approve', run_id: body.run_id, step_id: 'write' });
    expect([approve.status, approve.body.error?.message]).toEqual([202, undefined]);
    const asked = sse.events.findIndex((e) => e.event === 'approval');
    const statusBefore = sse.events.slice(0, asked).filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statusBefore.at(-1)).toBe('awaiting_approval');
    await sse.closed;
    const run = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['slow:succeeded', 'write:succeeded']);
  });

  it('fails a static run whose step is rejected, and 404s a decision on an unknown step', async () => {
    const { body } = await stack.execute(plan);
    await stack.waitForStatus(body.run_id, ['awaiting_approval']);
    expect((await stack.execute({ action: 'approve', run_id: body.run_id, step_id: 'nope' })).status).toBe(404);
    expect((await stack.execute({ action: 'approve', run_id: body.run_id, step_id: 'write' }, TOKENS.globex)).status).toBe(404);
    const rejected = await stack.execute({ action: 'reject', run_id: body.run_id, step_id: 'write', comment: 'not today' });
    expect(rejected.status).toBe(202);
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered', 'succeeded']);
    expect(run.status).toBe('dead_lettered');
    expect(run.error).toMatchObject({ code: 'rejected', retryable: false });
    expect(run.error.message).toContain('not today');
    expect(run.steps[1]).toMatchObject({ status: 'failed', approval: { decision: 'rejected', comment: 'not today' } });
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/approved.txt`)).status).toBe(404);
  });

  it('tells a model run that its call was rejected, and the model carries on', async () => {
    model.script(
      { toolCalls: [{ name: 'fs.delete', arguments: { path: 'precious.txt' } }] },
      { content: 'Understood, I left precious.txt alone.' },
    );
    const { body } = await stack.execute({ action: 'create', prompt: 'clean up', start: true, options: { approval: 'writes' } });
    const waiting = await stack.waitForStatus(body.run_id, ['awaiting_approval']);
    expect(waiting.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['m1:succeeded', 'm1.t1:awaiting_approval']);
    await stack.execute({ action: 'reject', run_id: body.run_id, step_id: 'm1.t1', comment: 'keep it' });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered']);
    expect(run.status).toBe('succeeded');
    expect(run.result).toBe('Understood, I left precious.txt alone.');
    expect(model.requests).toHaveLength(2);
    const told = model.requests[1]!.messages.at(-1)!;
    expect(told).toMatchObject({ role: 'tool' });
    expect(told.content).toContain('rejected by a person: keep it');
  });
});
