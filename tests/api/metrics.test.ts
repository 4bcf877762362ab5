import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** The value of one sample line of Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w)) && (want.length > 0 || have.length === 0)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics after a few runs', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'metrics' });
  });
  afterAll(() => stack.stop());

  it('counts a succeeded run, a dead-lettered run, an API-side cancel and a closed SSE client, on the api and the worker', async () => {
    const ok = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fs.write', args: { path: 'a.txt', content: 'a' } }] });
    const bad = await stack.execute({ action: 'create', start: true, options: { max_attempts: 1 }, steps: [{ tool: 'fail', args: { message: 'no', retryable: false } }] });
    await stack.waitForStatus(ok.body.run_id, ['succeeded']);
    await stack.waitForStatus(bad.body.run_id, ['dead_lettered']);
    const never = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] });
    await stack.execute({ action: 'cancel', run_id: never.body.run_id });

    const idle = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] });
    const sse = await openSse(`${stack.baseUrl}/agent/logs/${idle.body.run_id}/stream`, { token: TOKENS.acme });
    await sse.waitFor(() => true, 'the first event');
    sse.abort();

    const api = async () => String((await stack.api('GET', '/metrics', undefined, { token: '' })).body);
    await waitFor(async () => sample(await api(), 'agentyard_sse_streams_total', { outcome: 'client_closed' }) === 1, { label: 'the closed SSE client to be counted' });
    const a = await api();
    const w = await stack.workers[0]!.registry.metrics();

    expect(sample(w, 'agentyard_runs_total', { status: 'succeeded' })).toBe(1);
    expect(sample(w, 'agentyard_runs_total', { status: 'dead_lettered' })).toBe(1);
    expect(sample(a, 'agentyard_runs_total', { status: 'cancelled' })).toBe(1);
    expect(sample(w, 'agentyard_runs_total', { status: 'cancelled' })).toBeUndefined();
    expect(sample(a, 'agentyard_runs_created_total')).toBe(4);
    expect(sample(w, 'agentyard_tool_calls_total', { tool: 'fail', outcome: 'failed', error_class: 'permanent' })).toBe(1);
    expect(sample(w, 'agentyard_tool_calls_total', { tool: 'fs.write', outcome: 'succeeded', error_class: 'none' })).toBe(1);
    expect(sample(w, 'agentyard_step_duration_seconds_count', { tool: 'fs.write', outcome: 'succeeded' })).toBe(1);
    expect(sample(w, 'agentyard_queue_wait_seconds_count')).toBe(2);
    expect(sample(a, 'agentyard_http_requests_total', { route: '/agent/execute', method: 'POST', status: '201' })).toBe(4);
    expect(sample(a, 'agentyard_queue_depth', { state: 'dead_lettered' })).toBe(1);
    expect(sample(a, 'agentyard_workers')).toBe(1);
    expect(sample(a, 'agentyard_sse_clients')).toBe(0);
  });
});
