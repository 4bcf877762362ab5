import { request } from 'node:http';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

/** Bad input found by fuzzing that answered 500; each must be a 4xx in the error envelope. */

/** A POST whose body and headers go out exactly as given (fetch would refuse some of them). */
function rawPost(baseUrl: string, path: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Authorization: `Bearer ${TOKENS.acme}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const nested = (depth: number, leaf = '1') => `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;

describe('bad input that used to answer 500', () => {
  let stack: Stack;
  let runId: string;
  beforeAll(async () => {
    stack = await startStack({ label: 'bad-input', workers: 1 });
    const created = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fs.write', args: { path: 'a.txt', content: 'x' } }] });
    runId = created.body.run_id;
    await stack.waitForStatus(runId, ['succeeded']);
  });
  afterAll(() => stack.stop());

  describe('bodies', () => {
    const json = JSON.stringify({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] });

    it.each(['gzip', 'deflate', 'br', 'x-gzip'])('answers 400 naming Content-Encoding for a body that says %s but is not compressed', async (encoding) => {
      const res = await rawPost(stack.baseUrl, '/agent/execute', json, { 'Content-Type': 'application/json', 'Content-Encoding': encoding });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', details: [{ path: 'Content-Encoding' }] });
    });

    it('answers 400 naming Content-Encoding for an encoding it does not know, and Content-Type for a charset', async () => {
      const enc = await rawPost(stack.baseUrl, '/agent/execute', json, { 'Content-Type': 'application/json', 'Content-Encoding': 'compress' });
      expect(enc.status).toBe(400);
      expect(enc.body.error.details[0].path).toBe('Content-Encoding');
      const cs = await rawPost(stack.baseUrl, '/agent/execute', json, { 'Content-Type': 'application/json; charset=klingon' });
      expect(cs.status).toBe(400);
      expect(cs.body.error.details[0].path).toBe('Content-Type');
    });

    it.each([
      ['action', `{"action":${nested(5000)}}`, 'action.a'],
      ['steps[0].args', `{"action":"create","steps":[{"tool":"log","args":{"message":${nested(5000)}}}]}`, 'steps[0].args.message.a'],
      ['options.labels', `{"action":"create","steps":[{"tool":"log","args":{"message":"x"}}],"options":{"labels":{"k":${nested(5000)}}}}`, 'options.labels.k.a'],
      ['the whole body', nested(5000), 'a.a'],
      ['an array in args', `{"action":"create","steps":[{"tool":"log","args":{"message":${'['.repeat(5000)}${']'.repeat(5000)}}}]}`, 'steps[0].args.message[0][0]'],
    ])('answers 400 naming the field when %s nests 5,000 levels deep', async (_what, body, path) => {
      const res = await rawPost(stack.baseUrl, '/agent/execute', body, { 'Content-Type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details[0].path.startsWith(path)).toBe(true);
      expect(res.body.error.message).toContain('nested deeper than');
    });

    it('still takes args nested a few levels deep', async () => {
      const res = await rawPost(stack.baseUrl, '/agent/execute', `{"action":"create","steps":[{"tool":"log","args":{"message":"x"}}],"options":{"labels":{"k":"v"}}}`, {
        'Content-Type': 'application/json',
      });
      expect(res.status).toBe(201);
    });
  });

  describe('ids that are not run ids', () => {
    const suffixes = [':events', ':seq', ':steps', ':approvals', ':transcript'];
    const made = 'run_0000000000zzzzzzzzzzzzzz';
    const routes: Array<[string, string, (id: string) => string, string]> = [
      ['GET', '/agent/runs/:id', (id) => `/agent/runs/${id}`, TOKENS.acme],
      ['GET', '/agent/logs/:id', (id) => `/agent/logs/${id}`, TOKENS.acme],
      ['GET', '/agent/logs/:id/stream', (id) => `/agent/logs/${id}/stream`, TOKENS.acme],
      ['GET', '/agent/runs/:id/files', (id) => `/agent/runs/${id}/files`, TOKENS.acme],
      ['GET', '/agent/runs/:id/files/*path', (id) => `/agent/runs/${id}/files/a.txt`, TOKENS.acme],
      ['POST', '/admin/dlq/:id/replay', (id) => `/admin/dlq/${id}/replay`, TOKENS.ops],
    ];

    it.each(routes)('%s %s answers the same 404 to the owner and to another tenant for a real id + suffix', async (method, _route, path, token) => {
      for (const suffix of suffixes) {
        const id = encodeURIComponent(`${runId}${suffix}`);
        const owner = await stack.api(method, path(id), undefined, { token });
        const other = await stack.api(method, path(id), undefined, { token: token === TOKENS.ops ? TOKENS.ops : TOKENS.globex });
        const unknown = await stack.api(method, path(encodeURIComponent(`${made}${suffix}`)), undefined, { token });
        expect([owner.status, other.status, unknown.status]).toEqual([404, 404, 404]);
        expect(owner.body).toEqual(other.body);
        expect(owner.body.error.code).toBe('not_found');
        expect(unknown.body.error.code).toBe('not_found');
        expect(owner.body.error.message.replace(runId, made)).toBe(unknown.body.error.message);
      }
    });

    it.each(['start', 'cancel', 'retry', 'approve'])('execute %s answers the same 400 naming run_id for a real id + suffix, whoever asks', async (action) => {
      for (const suffix of suffixes) {
        const body = { action, run_id: `${runId}${suffix}`, ...(action === 'approve' ? { step_id: 's1' } : {}) };
        const owner = await stack.execute(body);
        const other = await stack.execute(body, TOKENS.globex);
        expect(owner.status).toBe(400);
        expect(owner.body).toEqual(other.body);
        expect(owner.body.error.details[0].path).toBe('run_id');
      }
    });
  });

  describe('query parameters', () => {
    it.each([
      ['/admin/dlq?offset=1.5', 'offset'],
      ['/admin/dlq?limit=1.5', 'limit'],
      ['/admin/dlq?offset=1e20', 'offset'],
      ['/admin/dlq?offset=100000000000000000000', 'offset'],
      ['/admin/dlq?offset=-1', 'offset'],
      ['/admin/dlq?limit=0', 'limit'],
      ['/admin/dlq?limit=abc', 'limit'],
      ['/admin/dlq?limit=1&limit=2', 'limit'],
      ['/admin/dlq?page=2', 'page'],
      ['/agent/runs?limit=1.5', 'limit'],
      ['/agent/runs?limit=1e2', 'limit'],
      ['/agent/runs?limit=', 'limit'],
      ['/agent/logs/:id?limit=1.5', 'limit'],
      ['/agent/logs/:id?limit=1001', 'limit'],
      ['/agent/logs/:id?after=yesterday', 'after'],
      ['/agent/logs/:id?after=1-0&after=2-0', 'after'],
      ['/agent/logs/:id?from=1-0', 'from'],
      ['/agent/runs/:id/files?limit=1.5', 'limit'],
      ['/agent/runs/:id/files?limit=10001', 'limit'],
      ['/agent/runs/:id/files?prefix=../x', 'prefix'],
      ['/agent/runs/:id/files?cursor=../x', 'cursor'],
      ['/agent/runs/:id/files?cursor=/etc', 'cursor'],
    ])('GET %s answers 400 naming %s', async (path, field) => {
      const res = await stack.api('GET', path.replace(':id', runId), undefined, { token: path.startsWith('/admin') ? TOKENS.ops : TOKENS.acme });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request' });
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    });

    it('takes the documented parameters in plain digits', async () => {
      expect((await stack.api('GET', '/admin/dlq?offset=0&limit=5', undefined, { token: TOKENS.ops })).status).toBe(200);
      expect((await stack.api('GET', `/agent/logs/${runId}?limit=2`)).body.events).toHaveLength(2);
      const files = await stack.api('GET', `/agent/runs/${runId}/files?prefix=.&limit=1`);
      expect(files.status).toBe(200);
      const next = await stack.api('GET', `/agent/runs/${runId}/files?limit=1&cursor=${encodeURIComponent(files.body.next_cursor)}`);
      expect(next.status).toBe(200);
      expect(next.body.entries[0].path).not.toBe(files.body.entries[0].path);
    });
  });
});
