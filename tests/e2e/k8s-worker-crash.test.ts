import { startK8sStandIn, type StandIn } from '../helpers/k8s-standin';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const NS = 'agentyard-sandbox';

/**
 * EXECUTOR=k8s with real worker processes, the loopback Kubernetes API stand-in and s3rver:
 * a worker killed with -9 while its step's Job runs. The run finishes on another worker,
 * which reattaches to that Job: the command ran once, in one Job.
 */
describe('Kubernetes executor across a worker crash', () => {
  let standin: StandIn;
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    standin = await startK8sStandIn({ namespace: NS });
    stack = await startStack({
      driver: 's3',
      label: 'k8s-crash',
      env: { EXECUTOR: 'k8s', KUBECONFIG: standin.kubeconfig, EXECUTOR_NAMESPACE: NS },
    });
  });
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await stack.stop();
    await standin.close();
  });

  it('finishes the run on another worker after kill -9 mid-Job, and the stand-in saw exactly one Job for that step', async () => {
    const first = spawnWorker(stack.env);
    procs.push(first);
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'seed', tool: 'fs.write', args: { path: 'in.txt', content: 'from the workspace\n' } },
        {
          id: 'job',
          tool: 'shell.exec',
          args: { command: 'cat in.txt; echo "$(date +%s%N)" >> ran.txt; sleep 4; echo finished', timeout_s: 60 },
          needs: ['seed'],
        },
        { id: 'after', tool: 'log', args: { message: 'after the job' }, needs: ['job'] },
      ],
    });
    const runId: string = body.run_id;
    const forStep = () => standin.created.filter((j) => j.metadata.labels?.['agentyard.dev/step'] === 'job');
    await waitFor(() => forStep().length === 1, { label: 'worker 1 to create the step Job', timeoutMs: 30_000 });
    await waitFor(async () => (await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events.some((e: any) => e.type === 'log' && e.stream === 'stdout'), {
      label: 'the command to print its first line',
      timeoutMs: 30_000,
    });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = spawnWorker(stack.env);
    procs.push(second);
    const run = await stack.waitForStatus(runId, ['succeeded', 'dead_lettered'], 60_000);
    expect([run.status, run.error]).toEqual(['succeeded', undefined]);
    const step = run.steps.find((s: { id: string }) => s.id === 'job');
    expect(step.output).toMatchObject({ exit_code: 0, stdout: 'from the workspace\nfinished\n' });
    // Two executions of the step (the second picked the first up), one Job, one run of the command.
    expect(step.attempts).toBe(2);
    expect(forStep()).toHaveLength(1);
    expect(String((await stack.api('GET', `/agent/runs/${runId}/files/ran.txt`)).body).trim().split('\n')).toHaveLength(1);
    await waitFor(() => standin.jobs().length === 0, { label: 'the Job to be deleted once collected' });
    second.child.kill('SIGTERM');
    await second.exited;
  });
});
