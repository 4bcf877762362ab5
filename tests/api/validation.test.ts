import { startStack, TOKENS, type Stack } from '../helpers/stack';

/** Every bad request gets a 4xx JSON error naming the offending field; never a 500. */
describe('bad input on POST /agent/execute', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'validation' });
  });
  afterAll(() => stack.stop());

  const plan = (steps: unknown[]) => ({ action: 'create', steps });

  it.each([
    ['unparseable JSON', { raw: '{"action": "create", ' }, 400, 'body'],
    ['a JSON array', { body: [1, 2] }, 400, 'body'],
    ['a missing action', { body: { steps: [] } }, 400, 'action'],
    ['an unknown action', { body: { action: 'explode' } }, 400, 'action'],
    ['neither prompt nor steps', { body: { action: 'create' } }, 400, 'steps'],
    ['an unknown field', { body: { action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }], colour: 'red' } }, 400, 'colour'],
    ['an unknown tool', { body: plan([{ tool: 'log', args: { message: 'a' } }, { tool: 'rm.rf', args: {} }]) }, 400, 'steps[1].tool'],
    ['args that miss a required field', { body: plan([{ tool: 'fs.write', args: { path: 'a.txt' } }]) }, 400, 'steps[0].args.content'],
    ['a ../ path', { body: plan([{ tool: 'fs.write', args: { path: '../etc/passwd', content: 'x' } }]) }, 400, 'steps[0].args.path'],
    ['an absolute path', { body: plan([{ tool: 'fs.read', args: { path: '/etc/passwd' } }]) }, 400, 'steps[0].args.path'],
    [
      'a needs cycle',
      { body: plan([{ id: 'a', tool: 'log', args: { message: 'a' }, needs: ['b'] }, { id: 'b', tool: 'log', args: { message: 'b' }, needs: ['a'] }]) },
      400,
      'steps[0].needs',
    ],
    ['needs naming an unknown step', { body: plan([{ id: 'a', tool: 'log', args: { message: 'a' } }, { tool: 'log', args: { message: 'b' }, needs: ['zzz'] }]) }, 400, 'steps[1].needs'],
    ['duplicate step ids', { body: plan([{ id: 'a', tool: 'log', args: { message: 'a' } }, { id: 'a', tool: 'log', args: { message: 'b' } }]) }, 400, 'steps[1].id'],
    ['a 3 MB prompt', { body: { action: 'create', prompt: 'x'.repeat(3 * 1024 * 1024), steps: [{ tool: 'log', args: { message: 'a' } }] } }, 400, 'prompt'],
    ['max_attempts out of range', { body: { action: 'create', steps: [{ tool: 'log', args: { message: 'a' } }], options: { max_attempts: 99 } } }, 400, 'options.max_attempts'],
    ['an unknown priority', { body: { action: 'create', steps: [{ tool: 'log', args: { message: 'a' } }], options: { priority: 'urgent' } } }, 400, 'options.priority'],
    ['a start without run_id', { body: { action: 'start' } }, 400, 'run_id'],
    ['a malformed run_id', { body: { action: 'cancel', run_id: 'nope' } }, 400, 'run_id'],
    ['a body over the size limit', { raw: JSON.stringify({ action: 'create', prompt: 'x'.repeat(5 * 1024 * 1024) }) }, 413, undefined],
  ])('rejects %s with %i naming %s', async (_name, input, status, path) => {
    const res = await stack.api('POST', '/agent/execute', 'body' in input ? input.body : undefined, 'raw' in input ? { raw: input.raw } : {});
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(status === 413 ? 'payload_too_large' : 'invalid_request');
    expect(typeof res.body.error.message).toBe('string');
    if (path) {
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
      expect(res.body.error.message).toContain(path);
    }
  });

  it('answers 422 naming LLM_BASE_URL for a prompt-only run when no model is configured', async () => {
    const res = await stack.execute({ action: 'create', prompt: 'summarise the repo' });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('unprocessable');
    expect(res.body.error.message).toContain('LLM_BASE_URL');
  });

  it('answers 401 without a token or with a wrong one, and 403 for a tenant token on /admin', async () => {
    expect((await stack.api('GET', '/agent/runs', undefined, { token: '' })).status).toBe(401);
    const wrong = await stack.api('GET', '/agent/runs', undefined, { token: 'tok_not_real_1' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    const admin = await stack.api('GET', '/admin/dlq', undefined, { token: TOKENS.acme });
    expect(admin.status).toBe(403);
    expect(admin.body.error.code).toBe('forbidden');
    expect((await stack.api('GET', '/admin/dlq', undefined, { token: TOKENS.ops })).status).toBe(200);
  });

  it('returns the same run for a repeated Idempotency-Key and 422 when the body differs', async () => {
    const body = { action: 'create', steps: [{ tool: 'log', args: { message: 'once' } }] };
    const first = await stack.execute(body, undefined, { 'Idempotency-Key': 'key-123' });
    const second = await stack.execute(body, undefined, { 'Idempotency-Key': 'key-123' });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.run_id).toBe(first.body.run_id);
    const other = await stack.execute({ ...body, steps: [{ tool: 'log', args: { message: 'twice' } }] }, undefined, { 'Idempotency-Key': 'key-123' });
    expect(other.status).toBe(422);
    expect(other.body.error.details[0].path).toBe('Idempotency-Key');
    // Keys are per tenant: globex using the same key gets its own run.
    const globex = await stack.execute(body, TOKENS.globex, { 'Idempotency-Key': 'key-123' });
    expect(globex.status).toBe(201);
    expect(globex.body.run_id).not.toBe(first.body.run_id);
  });

  it('answers 409 when starting a run that already ended, and 200 when it is already queued', async () => {
    const created = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'a' } }], start: true });
    expect(created.body.status).toBe('queued');
    const again = await stack.execute({ action: 'start', run_id: created.body.run_id });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('queued');
    await stack.execute({ action: 'cancel', run_id: created.body.run_id });
    const ended = await stack.execute({ action: 'start', run_id: created.body.run_id });
    expect(ended.status).toBe(409);
    expect(ended.body.error.code).toBe('invalid_state');
  });

  it('rejects bad query parameters on GET routes with 400 naming them', async () => {
    const list = await stack.api('GET', '/agent/runs?limit=0');
    expect(list.status).toBe(400);
    expect(list.body.error.details[0].path).toBe('limit');
    const status = await stack.api('GET', '/agent/runs?status=sleeping');
    expect(status.status).toBe(400);
    expect(status.body.error.details[0].path).toBe('status');
  });

  it('answers 400 naming the path, not 500, when a path parameter is not valid percent-encoding', async () => {
    for (const path of ['/agent/runs/%E0%A4%A', '/agent/logs/%ZZ', '/agent/runs/run_x/files/%C3%28']) {
      const res = await stack.api('GET', path);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', details: [{ path: 'path' }] });
    }
  });
});
