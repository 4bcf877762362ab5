import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { planSteps, RunOptions, newRunId } from '@agentyard/core';
import { jobIdFor } from '@agentyard/queue';
import { freePort } from '../helpers/global-setup';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');

/**
 * The reconciler repairs split writes: the run store says queued or running, BullMQ has no
 * job for it. RECONCILE_S is 1 here; a repaired run finishes within that plus its own time,
 * and runs once.
 */
describe('reconciler', () => {
  let stack: Stack;
  const procs: WorkerProcess[] = [];
  let api: ChildProcess | undefined;
  beforeAll(async () => {
    stack = await startStack({ label: 'reconcile', env: { RECONCILE_S: '1' } });
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    if (api && api.exitCode === null && api.signalCode === null) api.kill('SIGKILL');
    await Promise.all(stack.workers.splice(0).map((w) => w.shutdown(0)));
  });
  afterAll(() => stack.stop());

  const events = async (runId: string, token: string = TOKENS.acme) =>
    (await stack.api('GET', `/agent/logs/${runId}?limit=1000`, undefined, { token })).body.events as Array<Record<string, any>>;
  const started = (evs: Array<Record<string, any>>, stepId: string) =>
    evs.filter((e) => e.type === 'step' && e.step_id === stepId && e.phase === 'started').length;
  const reconciled = async (kind: string) => {
    let total = 0;
    for (const w of stack.workers) {
      const m = (await w.registry.getSingleMetricAsString('agentyard_reconciled_total')).match(new RegExp(`kind="${kind}"} (\\d+)`));
      total += m ? Number(m[1]) : 0;
    }
    return total;
  };

  it('adds the missing job of a run queued without one, once, within RECONCILE_S', async () => {
    const worker = await stack.startWorker();
    const id = newRunId();
    // The split write: the run store says queued (generation 1), BullMQ never heard of it.
    await stack.deps.store.create(
      {
        id,
        tenant: 'acme',
        workspace_id: id,
        options: RunOptions.parse({}),
        steps: planSteps([{ id: 'a', tool: 'log', args: { message: 'ran' } }, { id: 'b', tool: 'log', args: { message: 'ran too' }, needs: ['a'] }]),
        created_at: new Date().toISOString(),
      },
      { start: true },
    );
    expect((await stack.deps.queue.jobState(id, 1)).state).toBe('missing');
    const t0 = Date.now();
    const run = await stack.waitForStatus(id, ['succeeded'], 15_000);
    // Queued for more than one interval before it counts as stranded, then found on the next pass.
    expect(Date.now() - t0).toBeLessThan(1000 * 3 + 5000);
    expect(run.attempts).toBe(1);
    const evs = await events(id);
    expect([started(evs, 'a'), started(evs, 'b')]).toEqual([1, 1]);
    expect(evs.filter((e) => e.type === 'end')).toHaveLength(1);
    expect(await reconciled('queued_without_job')).toBe(1);
    void worker;
  });

  it('re-queues a running run whose worker was killed and whose job is gone; finished steps do not run again', async () => {
    const first = spawnWorker({ ...stack.env, RECONCILE_S: '3600' });
    procs.push(first);
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'write', tool: 'fs.write', args: { path: 'once.txt', content: 'written once' } },
        { id: 'long', tool: 'wait', args: { seconds: 2 }, needs: ['write'] },
        { id: 'after', tool: 'log', args: { message: 'after the wait' }, needs: ['long'] },
      ],
    });
    const runId: string = body.run_id;
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${runId}`)).body.steps[1].status === 'running', { label: 'the wait step to run', timeoutMs: 20_000 });
    first.child.kill('SIGKILL');
    await first.exited;
    // The job goes too (a lost Redis write, an obliterated queue): BullMQ's stall check has nothing to find.
    const q = stack.deps.queue.queue;
    const jobId = jobIdFor(runId, 1);
    await stack.redis.redis.multi().del(q.toKey(jobId), `${q.toKey(jobId)}:lock`).lrem(q.toKey('active'), 0, jobId).exec();
    expect((await stack.deps.queue.jobState(runId, 1)).state).toBe('missing');

    await stack.startWorker();
    const t0 = Date.now();
    const run = await stack.waitForStatus(runId, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    // interval 1 s + lock 3 s before a running run counts as a zombie, one pass, then the 2 s wait again.
    expect(Date.now() - t0).toBeLessThan(15_000);
    const evs = await events(runId);
    expect([started(evs, 'write'), started(evs, 'long'), started(evs, 'after')]).toEqual([1, 2, 1]);
    expect(evs.filter((e) => e.type === 'end')).toHaveLength(1);
    expect(evs.some((e) => e.type === 'log' && /re-queued by the reconciler/.test(e.message))).toBe(true);
    expect((await stack.deps.store.get(runId))!.gen).toBe(2);
    expect(await reconciled('zombie_requeued')).toBe(1);
  });

  it('leaves no stranded run when the API is killed with -9 in the middle of creates with start', async () => {
    const port = await freePort();
    api = spawn(process.execPath, [API_ENTRY], {
      env: { PATH: process.env.PATH ?? '', ...stack.env, API_PORT: String(port), LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true, { label: 'the api to listen' });
    const accepted: string[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/agent/execute`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKENS.globex}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'burst' } }] }),
          });
          if (res.status === 201) accepted.push(((await res.json()) as { run_id: string }).run_id);
        } catch {
          return; // the API is gone
        }
      }
    };
    const clients = Array.from({ length: 16 }, client);
    await waitFor(() => accepted.length >= 50, { label: 'creates to flow', timeoutMs: 20_000 });
    api.kill('SIGKILL');
    stop = true;
    await Promise.all(clients);

    const runs = [];
    let cursor: string | undefined;
    do {
      const page = await stack.deps.store.list('globex', { limit: 200, ...(cursor ? { cursor } : {}) });
      runs.push(...page.runs);
      cursor = page.next_cursor;
    } while (cursor);
    // Whatever the kill caught between the run store and BullMQ is queued without a job now.
    expect(runs.every((r) => r.status === 'queued')).toBe(true);
    expect(runs.map((r) => r.doc.id)).toEqual(expect.arrayContaining(accepted));

    const stranded = (await Promise.all(runs.map((r) => stack.deps.queue.jobState(r.doc.id, 1)))).filter((j) => j.state === 'missing').length;
    process.stderr.write(`kill -9 of the API left ${stranded} of ${runs.length} queued runs without a job\n`);
    await stack.startWorker();
    await waitFor(
      async () => {
        const statuses = await Promise.all(runs.map((r) => stack.deps.store.status(r.doc.id)));
        return statuses.every((s) => s === 'succeeded');
      },
      { label: 'every run the API stored before it died to succeed', timeoutMs: 60_000 },
    );
    // Each ran once: the reconciler's job and a late original one share the job id.
    for (const r of runs) expect([r.doc.id, started(await events(r.doc.id, TOKENS.globex), r.doc.steps[0]!.id)]).toEqual([r.doc.id, 1]);
  });
});
