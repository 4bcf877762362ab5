import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** shell.exec in planned runs on the local bubblewrap executor, end to end over HTTP. */
describe('shell.exec in a run (EXECUTOR=local)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'shell', env: { EXECUTOR: 'local', EXECUTOR_LOG_LINES: '50', EXECUTOR_OUTPUT_BYTES: '2048' } });
  });
  afterAll(() => stack.stop());

  const logs = async (runId: string) => (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events as Array<Record<string, any>>;

  it('runs a command on the workspace, keeps what it wrote, streams its output, and returns its result', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'seed', tool: 'fs.write', args: { path: 'data/in.csv', content: 'a,1\nb,2\n' } },
        { id: 'sum', tool: 'shell.exec', args: { command: "awk -F, '{s+=$2} END {print s}' in.csv | tee total.txt; echo done >&2", cwd: 'data' }, needs: ['seed'] },
        { id: 'fails', tool: 'shell.exec', args: { argv: ['/bin/sh', '-c', 'exit 7'] }, needs: ['sum'] },
      ],
    });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps[1].output).toMatchObject({ exit_code: 0, stdout: '3\n', stderr: 'done\n', truncated: false, files_changed: [{ path: 'data/total.txt', change: 'created' }] });
    // A non-zero exit is a result, not a failure of the step.
    expect(run.steps[2]).toMatchObject({ status: 'succeeded', output: { exit_code: 7 } });
    // (The helper parses a body that is JSON: the file holds "3\n".)
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/data/total.txt`)).body).toBe(3);
    const out = (await logs(body.run_id)).filter((e) => e.type === 'log' && e.step_id === 'sum');
    expect(out).toEqual(expect.arrayContaining([expect.objectContaining({ stream: 'stdout', message: '3' }), expect.objectContaining({ stream: 'stderr', message: 'done' })]));
  });

  it('streams at most EXECUTOR_LOG_LINES lines per step, then one notice; the result keeps the head and the file the whole output', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [{ id: 'chatty', tool: 'shell.exec', args: { command: 'seq 1 20000' } }],
    });
    const run = await stack.waitForStatus(body.run_id, ['succeeded', 'dead_lettered'], 30_000);
    const output = run.steps[0].output;
    expect(output).toMatchObject({ exit_code: 0, truncated: true });
    const whole = (await stack.api('GET', `/agent/runs/${body.run_id}/files/${output.stdout_file}`)).body as string;
    expect(whole.trim().split('\n')).toHaveLength(20000);
    const streamed = (await logs(body.run_id)).filter((e) => e.type === 'log' && e.step_id === 'chatty');
    const lines = streamed.filter((e) => e.lines).reduce((n, e) => n + e.lines, 0);
    expect(lines).toBe(50);
    expect(streamed.filter((e) => /not streamed/.test(e.message))).toHaveLength(1);
  });

  it('asks before it runs under approval "writes", and runs it once approved', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { approval: 'writes' },
      steps: [{ id: 'risky', tool: 'shell.exec', args: { command: 'echo approved > ok.txt' } }],
    });
    const waiting = await stack.waitForStatus(body.run_id, ['awaiting_approval']);
    expect(waiting.steps[0].status).toBe('awaiting_approval');
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/ok.txt`)).status).toBe(404);
    expect((await stack.execute({ action: 'approve', run_id: body.run_id, step_id: 'risky' })).status).toBe(202);
    await stack.waitForStatus(body.run_id, ['succeeded']);
    expect((await stack.api('GET', `/agent/runs/${body.run_id}/files/ok.txt`)).body).toBe('approved\n');
  });

  it('stops a running command within 2 s of a cancel, its whole process tree', async () => {
    const marker = `cancel-${randomUUID()}`;
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [{ id: 'long', tool: 'shell.exec', args: { command: `sleep 60 & sleep 60; echo ${marker}`, timeout_s: 120 } }],
    });
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${body.run_id}`)).body.steps[0].status === 'running', { label: 'the command to run' });
    await waitFor(() => pgrep(marker) > 0, { label: 'the sandboxed processes to appear' });
    const t0 = Date.now();
    expect((await stack.execute({ action: 'cancel', run_id: body.run_id })).status).toBe(202);
    await stack.waitForStatus(body.run_id, ['cancelled'], 5000);
    await waitFor(() => pgrep(marker) === 0, { label: 'every process of the command to be gone', timeoutMs: 3000 });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('fails a command that runs past its timeout_s with exec_timeout, without retrying it', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      options: { max_attempts: 3 },
      steps: [{ id: 'slow', tool: 'shell.exec', args: { command: 'sleep 30', timeout_s: 1 } }],
    });
    const run = await stack.waitForStatus(body.run_id, ['dead_lettered', 'succeeded'], 20_000);
    expect(run.status).toBe('dead_lettered');
    expect(run.error).toMatchObject({ code: 'exec_timeout', retryable: false });
    expect(run.attempts).toBe(1);
  });
});

/** Processes on this host whose command line holds `marker` (the sandbox shares the host's process table view). */
function pgrep(marker: string): number {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().trim().split('\n').filter(Boolean).length;
  } catch {
    return 0; // pgrep exits 1 when nothing matches
  }
}
