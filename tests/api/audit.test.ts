import { createHash } from 'node:crypto';
import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** The subject the Authenticator gives an API key: its tenant and the first 8 hex of its digest. */
const subjectOf = (tenant: string, token: string) => `apikey:${tenant}:${createHash('sha256').update(token).digest('hex').slice(0, 8)}`;
const ACME = { tenant: 'acme', subject: subjectOf('acme', TOKENS.acme) };
const OPS = { tenant: 'ops', subject: subjectOf('ops', TOKENS.ops) };

describe('audit: who cancelled, approved, rejected, retried and replayed a run', () => {
  let stack: Stack;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    stack = await startStack({
      label: 'audit',
      workers: 1,
      logs: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
  });
  afterAll(() => stack.stop());

  const history = async (runId: string, token: string = TOKENS.acme) =>
    (await stack.api('GET', `/agent/logs/${runId}?limit=500`, undefined, { token })).body.events as Array<Record<string, any>>;
  const auditLines = (runId: string) => lines.filter((l) => l.runId === runId && typeof l.action === 'string');

  it('records the cancelling principal in the status event, on the SSE stream and in one log line', async () => {
    const { body } = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'never started' } }] });
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    expect((await stack.execute({ action: 'cancel', run_id: body.run_id, reason: 'not needed' })).status).toBe(202);
    await sse.closed;
    const streamed = sse.events.find((e) => e.event === 'status' && e.data.status === 'cancelled');
    expect(streamed?.data).toMatchObject({ status: 'cancelled', previous: 'created', by: ACME });
    const stored = (await history(body.run_id)).find((e) => e.type === 'status' && e.status === 'cancelled');
    expect(stored?.by).toEqual(ACME);
    const logged = auditLines(body.run_id);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 30, action: 'cancelled', tenant: 'acme', actor: ACME });
    // The log line names the key by its digest prefix, never the key.
    expect(JSON.stringify(logged[0])).not.toContain(TOKENS.acme);
  });

  it('records who approved and who rejected in the approval and status events and the logs', async () => {
    const steps = [{ id: 'w', tool: 'fs.write', args: { path: 'a.txt', content: 'a' } }];
    const approved = (await stack.execute({ action: 'create', start: true, options: { approval: 'writes' }, steps })).body.run_id as string;
    const rejected = (await stack.execute({ action: 'create', start: true, options: { approval: 'writes' }, steps })).body.run_id as string;
    for (const id of [approved, rejected]) await stack.waitForStatus(id, ['awaiting_approval']);
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${approved}/stream`, { token: TOKENS.acme });
    expect((await stack.execute({ action: 'approve', run_id: approved, step_id: 'w', comment: 'ok' })).status).toBe(202);
    expect((await stack.execute({ action: 'reject', run_id: rejected, step_id: 'w' })).status).toBe(202);
    const decided = await sse.waitFor((e) => e.event === 'approval' && e.data.phase === 'decided', 'the decided approval event');
    expect(decided.data).toMatchObject({ step_id: 'w', decision: 'approved', comment: 'ok', by: ACME });
    await sse.waitFor((e) => e.event === 'status' && e.data.previous === 'awaiting_approval' && (e.data.by as any)?.tenant === 'acme', 'the re-queue status event with its actor');
    sse.abort();
    await stack.waitForStatus(approved, ['succeeded']);
    const rejectEvent = (await history(rejected)).find((e) => e.type === 'approval' && e.phase === 'decided');
    expect(rejectEvent).toMatchObject({ decision: 'rejected', by: ACME });
    // The decision kept on the step carries its actor too.
    const run = (await stack.api('GET', `/agent/runs/${approved}`)).body;
    expect(run.steps[0].approval).toMatchObject({ decision: 'approved', by: ACME });
    expect(auditLines(approved).map((l) => l.action)).toEqual(['approved']);
    expect(auditLines(rejected).map((l) => l.action)).toEqual(['rejected']);
  });

  it('records the tenant who retried and the operator who replayed a dead letter', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fail', args: { message: 'boom', retryable: false } }] });
    await stack.waitForStatus(body.run_id, ['dead_lettered']);
    expect((await stack.execute({ action: 'retry', run_id: body.run_id })).status).toBe(202);
    await waitFor(async () => (await history(body.run_id)).filter((e) => e.type === 'end').length === 2, {
      label: 'the retried run to dead-letter again',
      timeoutMs: 15_000,
    });
    const replay = await stack.api('POST', `/admin/dlq/${body.run_id}/replay`, undefined, { token: TOKENS.ops });
    expect(replay.status).toBe(202);
    const requeues = (await history(body.run_id)).filter((e) => e.type === 'status' && e.status === 'queued' && e.previous === 'dead_lettered');
    expect(requeues.map((e) => e.by)).toEqual([ACME, OPS]);
    // The run's own tenant sees the operator's replay on its stream.
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
    const seen = await sse.waitFor((e) => e.event === 'status' && (e.data.by as any)?.tenant === 'ops', 'the replay status event');
    expect(seen.data.by).toEqual(OPS);
    sse.abort();
    expect(auditLines(body.run_id).map((l) => [l.action, (l.actor as any).tenant])).toEqual([
      ['retried', 'acme'],
      ['replayed', 'ops'],
    ]);
  });

  it('records no actor on transitions nobody asked for (a worker picking a run up)', async () => {
    const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'x' } }] });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const statuses = (await history(body.run_id)).filter((e) => e.type === 'status');
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    for (const e of statuses) expect(e.by).toBeUndefined();
  });
});
