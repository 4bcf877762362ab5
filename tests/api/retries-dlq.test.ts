import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('retries, backoff and the dead-letter queue', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'dlq' });
  });
  afterAll(() => stack.stop());

  const events = async (runId: string) => (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events as Array<Record<string, any>>;

  it('backs off after a retryable failure and succeeds on the retry without re-running finished steps', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 3 },
      steps: [
        { id: 'before', tool: 'fs.write', args: { path: 'before.txt', content: 'x' } },
        { id: 'flaky', tool: 'fail', args: { message: 'upstream 503', retryable: true, times: 1 }, needs: ['before'] },
      ],
    });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered']);
    expect(run.status).toBe('succeeded');
    expect(run.attempts).toBe(2);
    expect(run.steps.find((s: { id: string }) => s.id === 'before').attempts).toBe(1);
    expect(run.steps.find((s: { id: string }) => s.id === 'flaky').attempts).toBe(2);
    const statuses = (await events(body.run_id)).filter((e) => e.type === 'status').map((e) => e.status);
    expect(statuses).toEqual(['created', 'queued', 'running', 'failed', 'running', 'succeeded']);
    const failed = (await events(body.run_id)).find((e) => e.type === 'status' && e.status === 'failed');
    expect(failed!.error).toMatchObject({ code: 'tool_failed', message: 'upstream 503', retryable: true });
  });

  it('dead-letters a run that always fails after max_attempts, lists it in /admin/dlq, and replays it', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 2 },
      steps: [{ id: 'bad', tool: 'fail', args: { message: 'always broken', retryable: true } }],
    });
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered']);
    expect(run.attempts).toBe(2);
    expect(run.error).toMatchObject({ code: 'tool_failed', retryable: true });
    expect(run.error.message).toContain('always broken');
    expect((await events(body.run_id)).at(-1)).toMatchObject({ type: 'end', status: 'dead_lettered' });

    const dlq = await stack.api('GET', '/admin/dlq', undefined, { token: TOKENS.ops });
    expect(dlq.status).toBe(200);
    const entry = dlq.body.dead_letters.find((d: { run_id: string }) => d.run_id === body.run_id);
    expect(entry).toMatchObject({ tenant: 'acme', attempts: 2, error: { code: 'tool_failed' } });
    const stats = (await stack.api('GET', '/agent/queue/stats')).body;
    expect(stats.dead_lettered).toBeGreaterThanOrEqual(1);

    const replay = await stack.api('POST', `/admin/dlq/${body.run_id}/replay`, undefined, { token: TOKENS.ops });
    expect(replay.status).toBe(202);
    expect(replay.body.status).toBe('queued');
    const after = (await stack.api('GET', '/admin/dlq', undefined, { token: TOKENS.ops })).body.dead_letters;
    expect(after.map((d: { run_id: string }) => d.run_id)).not.toContain(body.run_id);
    const again = await stack.waitForStatus(body.run_id, ['dead_lettered']);
    expect(again.attempts).toBe(4);
    const statuses = (await events(body.run_id)).filter((e) => e.type === 'status').map((e) => e.status);
    expect(statuses.filter((s) => s === 'dead_lettered')).toHaveLength(2);
    expect((await events(body.run_id)).filter((e) => e.type === 'end')).toHaveLength(2);
  });

  it('does not retry a permanent failure and skips the steps that depended on it', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 5 },
      steps: [
        { id: 'deny', tool: 'fail', args: { message: 'policy says no', retryable: false } },
        { id: 'after', tool: 'log', args: { message: 'never' }, needs: ['deny'] },
      ],
    });
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered']);
    expect(run.attempts).toBe(1);
    expect(run.error).toEqual({ code: 'tool_failed', message: 'policy says no', retryable: false });
    expect(run.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['deny:failed', 'after:skipped']);
  });

  it('lets a client retry a dead-lettered run, resuming after the steps that succeeded', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 1 },
      steps: [
        { id: 'one', tool: 'log', args: { message: 'one' } },
        { id: 'two', tool: 'fail', args: { message: 'first time only', retryable: true, times: 1 }, needs: ['one'] },
      ],
    });
    await stack.waitForStatus(body.run_id, ['dead_lettered']);
    const retry = await stack.execute({ action: 'retry', run_id: body.run_id });
    expect(retry.status).toBe(202);
    const run = await stack.waitForStatus(body.run_id, ['succeeded']);
    expect(run.steps.map((s: { id: string; attempts: number }) => `${s.id}:${s.attempts}`)).toEqual(['one:1', 'two:2']);
    const started = (await events(body.run_id)).filter((e) => e.type === 'step' && e.phase === 'started').map((e) => e.step_id);
    expect(started).toEqual(['one', 'two', 'two']);
  });

  it('answers 409 to a retry of a run that succeeded, and 404 to a replay of an unknown run', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'ok' } }] });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    expect((await stack.execute({ action: 'retry', run_id: body.run_id })).status).toBe(409);
    expect((await stack.api('POST', '/admin/dlq/run_00000000000000000000000000/replay', undefined, { token: TOKENS.ops })).status).toBe(404);
  });
});
