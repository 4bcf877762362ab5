import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { scopeWorkspace, workspaceRoot } from '@agentyard/workspace';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

/**
 * Property-based fuzzing of the HTTP surface over real loopback HTTP against the real stack
 * (Redis, the fs workspace, a worker for the seed). Tenant globex is seeded with runs, files and
 * a session whose ids and contents are unique markers; every generated request is sent as
 * tenant acme (or with a broken credential). For each answer: never a 5xx, and no globex marker
 * the request did not itself carry; a request aimed at a globex run by id never succeeds.
 * Over 10,000 requests in all, each property bounded by numRuns and a time budget.
 */

type Fuzzed = { method: string; path: string; headers?: Record<string, string>; body?: string; /** aims at a globex run or session by id */ foreign?: boolean };
type Answer = { status: number; text: string };

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
let baseUrl: URL;
let sent = 0;
const statuses = new Map<number, number>();
/** Requests the server never answered within ANSWER_MS. */
const unanswered: string[] = [];
const ANSWER_MS = 3000;

/** One request exactly as generated; undefined when Node's client itself refuses to send it (an invalid header). */
function send(r: Fuzzed): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    let req;
    try {
      req = request({ host: baseUrl.hostname, port: baseUrl.port, method: r.method, path: r.path, headers: r.headers ?? {}, agent }, (res) => {
        const chunks: Buffer[] = [];
        // An SSE stream of a run that is still open never ends on its own: read what comes in 60 ms.
        const cut = (res.headers['content-type'] ?? '').startsWith('text/event-stream') ? setTimeout(() => res.destroy(), 60) : undefined;
        const done = () => {
          clearTimeout(cut);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        };
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => undefined);
      });
    } catch {
      resolve(undefined);
      return;
    }
    req.on('error', reject);
    req.setTimeout(ANSWER_MS, () => {
      unanswered.push(`${r.method} ${r.path}`);
      req.destroy();
      resolve(undefined);
    });
    sent++;
    req.end(r.body);
  });
}

describe('fuzzing the API as one tenant while another holds marked runs, files and sessions', () => {
  let stack: Stack;
  const marker = `GLOBEXMARK${randomBytes(6).toString('hex')}`;
  const globexWorkspace = `wsglobex${randomBytes(4).toString('hex')}`;
  const globexRuns: string[] = [];
  const acmeRuns: string[] = [];
  let globexSession: string;
  let globexInvocation: string;
  let acmeSession: string;
  /** What must never reach acme unless acme's own request carried it. */
  let markers: string[];
  const started = Date.now();

  beforeAll(async () => {
    stack = await startStack({ label: 'fuzz', workers: 1 });
    baseUrl = new URL(stack.baseUrl);
    const asGlobex = (body: unknown) => stack.execute(body, TOKENS.globex);
    const done = await asGlobex({
      action: 'create',
      start: true,
      workspace_id: globexWorkspace,
      options: { labels: { owner: marker } },
      steps: [
        { id: 'w', tool: 'fs.write', args: { path: 'secret/marker.txt', content: `${marker}-file-content` } },
        { tool: 'log', args: { message: `${marker}-log` }, needs: ['w'] },
      ],
    });
    expect(done.status).toBe(201);
    globexRuns.push(done.body.run_id);
    await stack.waitForStatus(done.body.run_id, ['succeeded'], 20_000, TOKENS.globex);
    for (let i = 0; i < 2; i++) globexRuns.push((await asGlobex({ action: 'create', prompt: `${marker}-prompt-${i}`, steps: [{ tool: 'log', args: { message: marker } }] })).body.run_id);
    await scopeWorkspace(stack.workspace, workspaceRoot('globex', globexWorkspace)).write('direct.txt', `${marker}-direct`);
    const gs = await stack.api('POST', '/v1/sessions', { session_id: `session-${marker}`, workspace_id: globexWorkspace, metadata: { m: marker }, approval: 'never' }, { token: TOKENS.globex });
    globexSession = gs.body.session.id;
    const inv = await stack.api('POST', `/v1/sessions/${globexSession}/tools/fs.read/invoke`, { args: { path: 'direct.txt' } }, { token: TOKENS.globex });
    expect(inv.status).toBe(200);
    globexInvocation = inv.body.invocation.id;

    // acme: a finished run (its SSE stream ends), one open, and one on a workspace named like globex's.
    const a = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'fs.write', args: { path: 'mine.txt', content: 'acme content' } }] });
    acmeRuns.push(a.body.run_id);
    await stack.waitForStatus(a.body.run_id, ['succeeded']);
    acmeRuns.push((await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'open' } }] })).body.run_id);
    acmeRuns.push((await stack.execute({ action: 'create', workspace_id: globexWorkspace, steps: [{ tool: 'log', args: { message: 'same name' } }] })).body.run_id);
    acmeSession = (await stack.api('POST', '/v1/sessions', { workspace_id: globexWorkspace })).body.session.id;
    // From here on nothing executes: fuzzed runs only queue, so the campaign measures the API.
    await Promise.all(stack.workers.map((w) => w.shutdown(0)));
    stack.workers.length = 0;
    markers = [marker, ...globexRuns, globexInvocation, globexSession];
  }, 60_000);

  afterAll(async () => {
    agent.destroy();
    await stack.stop();
  });

  /** The checks every answer must pass. */
  function check(r: Fuzzed, a: Answer | undefined): void {
    if (!a) return;
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    if (a.status >= 500) throw new Error(`${r.method} ${r.path} answered ${a.status}: ${a.text.slice(0, 300)}`);
    const asked = `${r.path} ${JSON.stringify(r.headers ?? {})} ${r.body ?? ''}`;
    for (const m of markers) {
      if (!asked.includes(m) && a.text.includes(m)) throw new Error(`${r.method} ${r.path} leaked globex's ${m}: ${a.text.slice(0, 300)}`);
    }
    if (r.foreign && a.status < 300) throw new Error(`${r.method} ${r.path} aimed at globex answered ${a.status}: ${a.text.slice(0, 300)}`);
  }

  const run = (arb: fc.Arbitrary<Fuzzed>, numRuns: number, budgetMs: number) =>
    fc.assert(
      fc.asyncProperty(arb, async (r) => check(r, await send(r))),
      // The time budget stops a slow machine early rather than failing the suite on a timeout.
      { numRuns, interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false },
    );

  // --- generators ---
  const text = fc.string({ maxLength: 40 });
  const weird = fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%', '%E0%A4%A', '..%2f..%2f', '.~ay-tmp.0123456789abcdef', '__proto__', 'constructor', '%C0%AE', '\u00e9', 'a'.repeat(300));
  const segment = fc.oneof(fc.webSegment(), weird, text.map(encodeURIComponent));
  const runId = () =>
    fc.oneof(
      fc.constantFrom(...acmeRuns).map((id) => ({ id, foreign: false })),
      fc.constantFrom(...globexRuns).map((id) => ({ id, foreign: true })),
      fc.oneof(segment, fc.stringMatching(/^run_[0-9A-Z]{26}$/)).map((id) => ({ id, foreign: false })),
    );
  const json = fc.jsonValue({ maxDepth: 4 });
  const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'path', 'message', 'content'));
  const args = fc.dictionary(key, fc.oneof(json, fc.constantFrom('../../globex', `/tenants/globex/workspaces/${globexWorkspace}/direct.txt`, 'direct.txt', 'secret/marker.txt')), { maxKeys: 4 });
  const tool = fc.oneof(fc.constantFrom('log', 'wait', 'fail', 'fs.read', 'fs.write', 'fs.list', 'fs.delete', 'shell.exec', 'model'), text);
  const step = fc.record({ id: fc.option(text, { nil: undefined }), tool, args, needs: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }) }, { requiredKeys: ['tool'] });
  const options = fc.record(
    {
      priority: fc.oneof(fc.constantFrom('low', 'normal', 'high', 'critical'), json),
      max_attempts: fc.oneof(fc.integer({ min: -2, max: 12 }), json),
      timeout_s: fc.oneof(fc.integer(), fc.double()),
      approval: fc.oneof(fc.constantFrom('never', 'writes', 'all'), text),
      labels: fc.dictionary(key, fc.oneof(text, json), { maxKeys: 5 }),
    },
    { requiredKeys: [] },
  );
  const authHeaders = fc.oneof(
    { weight: 8, arbitrary: fc.constant({ Authorization: `Bearer ${TOKENS.acme}` }) },
    { weight: 1, arbitrary: fc.oneof(fc.constant({}), text.map((t) => ({ Authorization: t })), text.map((t) => ({ Authorization: `Bearer ${t}` }))) },
  );
  const contentHeaders = fc.record(
    {
      'Content-Type': fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, fc.constantFrom('text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'multipart/form-data'), text),
      'Content-Encoding': fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-unknown'),
      'Idempotency-Key': fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), text),
    },
    { requiredKeys: ['Content-Type'] },
  );
  /** Reserved keys reach the wire only in raw JSON: assignment in JS would set a prototype. */
  const mutate = (s: string) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(s) },
      fc.nat(s.length).map((n) => s.slice(0, n)),
      fc.tuple(fc.nat(s.length), fc.constantFrom('"', '{', ']', '\\', '\u0000', ',"__proto__":{"x":1}', '\ud800')).map(([n, c]) => s.slice(0, n) + c + s.slice(n)),
      fc.constant(s.replace(/"(message|path|owner)"/, '"__proto__"')),
    );
  const withPossibleQuery = (path: string) => fc.option(fc.webQueryParameters(), { nil: undefined }).map((q) => (q ? `${path}?${q}` : path));

  it('POST /agent/execute with generated bodies and headers: 3,000 requests, no 5xx, no leak', async () => {
    // Bodies with exactly one action's fields reach the run commands (strict schemas refuse the rest).
    const wellFormed = fc.oneof(
      fc.record({ action: fc.constantFrom('start', 'retry') }),
      fc.record({ action: fc.constant('cancel'), reason: text }, { requiredKeys: ['action'] }),
      fc.record({ action: fc.constantFrom('approve', 'reject'), step_id: fc.oneof(fc.constantFrom('w', 'step-1', '0'), text), comment: text }, { requiredKeys: ['action', 'step_id'] }),
      fc.record({ action: fc.constant('create'), steps: fc.array(step, { minLength: 1, maxLength: 3 }), workspace_id: fc.constant(globexWorkspace), start: fc.boolean() }, { requiredKeys: ['action', 'steps'] }),
    );
    const body = fc.oneof(
      { weight: 2, arbitrary: wellFormed },
      fc.record(
        {
          action: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('create', 'start', 'cancel', 'retry', 'approve', 'reject') }, json),
          prompt: fc.oneof(text, json),
          steps: fc.oneof(fc.array(step, { maxLength: 4 }), json),
          workspace_id: fc.oneof(fc.constant(globexWorkspace), text),
          options,
          start: fc.oneof(fc.boolean(), json),
          step_id: text,
          comment: text,
          reason: text,
        },
        { requiredKeys: ['action'] },
      ),
      json,
    );
    const target = fc.tuple(body, fc.option(runId(), { nil: undefined })).map(([b, id]) => {
      if (id && typeof b === 'object' && b !== null && !Array.isArray(b) && (b as Record<string, unknown>).action !== 'create') {
        return { raw: JSON.stringify({ ...b, run_id: id.id }), foreign: id.foreign };
      }
      return { raw: JSON.stringify(b) ?? 'null', foreign: false };
    });
    const arb = fc
      .tuple(target, authHeaders, contentHeaders)
      .chain(([t, auth, content]) => mutate(t.raw).map((raw) => ({ method: 'POST', path: '/agent/execute', headers: { ...auth, ...content }, body: raw, foreign: t.foreign })));
    await run(arb, 3000, 40_000);
  }, 60_000);

  it('path and query parameters of every read route: 3,000 requests, no 5xx, no leak, globex ids 404', async () => {
    const arb = fc
      .tuple(
        fc.constantFrom('run', 'runs', 'logs', 'files', 'file', 'token', 'tools', 'stats', 'workers', 'dlq', 'replay', 'random'),
        runId(),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        authHeaders,
      )
      .chain(([route, { id, foreign }, segs, auth]) => {
        const rest = segs.join('/');
        const paths: Record<string, [string, string]> = {
          run: ['GET', `/agent/runs/${id}`],
          runs: ['GET', '/agent/runs'],
          logs: ['GET', `/agent/logs/${id}`],
          files: ['GET', `/agent/runs/${id}/files`],
          file: ['GET', `/agent/runs/${id}/files/${rest}`],
          token: ['POST', `/agent/runs/${id}/stream-token`],
          tools: ['GET', '/agent/tools'],
          stats: ['GET', '/agent/queue/stats'],
          workers: ['GET', '/agent/workers'],
          dlq: ['GET', '/admin/dlq'],
          replay: ['POST', `/admin/dlq/${id}/replay`],
          random: [segs.length % 2 ? 'GET' : 'DELETE', `/${rest}`],
        };
        const [method, path] = paths[route]!;
        const query = fc.oneof(
          fc.webQueryParameters(),
          fc.record({ status: text, limit: fc.oneof(fc.integer().map(String), text), cursor: fc.oneof(fc.constantFrom(...globexRuns), text), prefix: fc.oneof(segment, fc.constant('../..')), after: text }, { requiredKeys: [] }).map((q) => new URLSearchParams(q as Record<string, string>).toString()),
        );
        return fc.option(query, { nil: undefined }).map((q) => ({ method, path: q ? `${path}?${q}` : path, headers: auth, foreign: foreign && path.includes(id) }));
      });
    await run(arb, 3000, 40_000);
  }, 60_000);

  it('SSE with generated Last-Event-ID, last_event_id and access_token values: 1,000 requests, no 5xx, no leak', async () => {
    const eventId = fc.oneof(
      fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}-${b}`),
      fc.constantFrom('0-0', '99999999999999999999-99999999999999999999', '1-', '-1', '0', '1700000000000-0 ', '$', '+', '>'),
      text,
    );
    const arb = fc.tuple(runId(), eventId, fc.constantFrom('header', 'query', 'token', 'none'), authHeaders).chain(([{ id, foreign }, cursor, how, auth]) =>
      fc.oneof(fc.constant('access_token'), fc.constant('access%5Ftoken'), fc.constant('%61ccess_token'), fc.constant('access_token[]')).map((tokenKey) => {
        const q = how === 'query' ? `?last_event_id=${encodeURIComponent(cursor)}` : how === 'token' ? `?${tokenKey}=${encodeURIComponent(cursor)}` : '';
        const headers: Record<string, string> = { ...auth, ...(how === 'header' ? { 'Last-Event-ID': cursor } : {}) };
        return { method: 'GET', path: `/agent/logs/${id}/stream${q}`, headers, foreign };
      }),
    );
    await run(arb, 1000, 30_000);
  }, 40_000);

  it('the /v1/sessions routes: 2,500 requests, no 5xx, no leak, globex sessions and invocations 404', async () => {
    const sessionId = fc.oneof(
      fc.constant({ id: acmeSession, foreign: false }),
      fc.constant({ id: globexSession, foreign: true }),
      fc.oneof(segment, fc.stringMatching(/^session-[A-Za-z0-9_-]{1,20}$/)).map((id) => ({ id, foreign: false })),
    );
    const createBody = fc.oneof(
      fc.record(
        {
          session_id: fc.oneof(fc.stringMatching(/^session-[a-z0-9]{1,12}$/), text),
          workspace_id: fc.oneof(fc.constant(globexWorkspace), text),
          allowed_paths: fc.oneof(fc.array(fc.oneof(segment, fc.constant('../')), { maxLength: 3 }), json),
          approval: fc.oneof(fc.constantFrom('never', 'writes', 'all'), json),
          metadata: fc.oneof(fc.dictionary(key, json, { maxKeys: 3 }), json),
          expires_in_seconds: fc.oneof(fc.integer({ min: -5, max: 700_000 }), json),
          tenant: fc.constant('globex'),
        },
        { requiredKeys: [] },
      ),
      json,
    );
    const invokeBody = fc.oneof(fc.record({ args, approved: fc.oneof(fc.boolean(), json), correlation_id: fc.oneof(fc.stringMatching(/^[a-z0-9]{1,10}$/), text) }, { requiredKeys: [] }), json);
    const arb = fc
      .tuple(fc.constantFrom('create', 'get', 'delete', 'tools', 'invoke', 'invocation'), sessionId, tool, createBody, invokeBody, authHeaders)
      .chain(([what, s, t, cb, ib, auth]) => {
        const headers = { ...auth, 'Content-Type': 'application/json' };
        const enc = encodeURIComponent(t);
        const req: Record<string, Fuzzed> = {
          create: { method: 'POST', path: '/v1/sessions', headers, body: JSON.stringify(cb) ?? 'null' },
          get: { method: 'GET', path: `/v1/sessions/${s.id}`, headers, foreign: s.foreign },
          delete: { method: 'DELETE', path: `/v1/sessions/${s.id}`, headers, foreign: s.foreign },
          tools: { method: 'GET', path: `/v1/sessions/${s.id}/tools`, headers, foreign: s.foreign },
          // wait=false: with no worker running, a waiting invoke would hold for the tool's timeout.
          invoke: { method: 'POST', path: `/v1/sessions/${s.id}/tools/${enc}/invoke?wait=false`, headers, body: JSON.stringify(ib) ?? 'null', foreign: s.foreign },
          invocation: { method: 'GET', path: `/v1/invocations/${s.foreign ? globexInvocation : s.id}`, headers, foreign: s.foreign },
        };
        const r = req[what]!;
        return (r.body === undefined ? fc.constant(r.body) : mutate(r.body)).map((body) => ({ ...r, ...(body === undefined ? {} : { body }) }));
      });
    await run(arb, 2500, 35_000);
  }, 60_000);

  it('generated header names and values on every route: 1,000 requests, no 5xx, no leak', async () => {
    // Framing (Content-Length, Transfer-Encoding) is Node's client's to set: a wrong length just waits for bytes.
    const headerName = fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/).filter((n) => !/^(content-length|transfer-encoding)$/i.test(n)), fc.constantFrom('Authorization', 'Last-Event-ID', 'Idempotency-Key', 'X-Forwarded-For', 'Host', 'Expect', 'Origin', 'X-Correlation-Id', 'Accept-Encoding'));
    const headerValue = fc.oneof(text, fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 60 }), fc.constantFrom('chunked', '-1', '999999999999', '100-continue', `Bearer ${TOKENS.acme}`, `Bearer ${TOKENS.acme}, Bearer x`));
    const arb = fc
      .tuple(
        fc.constantFrom(['POST', '/agent/execute'], ['GET', '/agent/runs'], ['GET', `/agent/runs/${acmeRuns[0]}`], ['GET', `/agent/logs/${acmeRuns[0]}/stream`], ['POST', '/v1/sessions'], ['GET', '/readyz'], ['GET', '/healthz']),
        fc.dictionary(headerName, headerValue, { maxKeys: 5 }),
        fc.option(json, { nil: undefined }),
      )
      .chain(([[method, path], extra, body]) =>
        withPossibleQuery(path!).map((p) => ({ method: method!, path: p, headers: { Authorization: `Bearer ${TOKENS.acme}`, 'Content-Type': 'application/json', ...extra }, ...(body === undefined || method === 'GET' ? {} : { body: JSON.stringify(body) }) })),
      );
    await run(arb, 1000, 20_000);
  }, 40_000);

  it('sent over 10,000 requests, and the server is healthy and correct afterwards', async () => {
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(unanswered).toEqual([]);
    // The campaign reached the routes' logic, not only the validators: some requests succeeded.
    expect([...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(500);
    // eslint-disable-next-line no-console
    console.log(`fuzz: ${sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    // The checks themselves can fail: a marker, a 5xx, a foreign success.
    expect(() => check({ method: 'GET', path: '/x' }, { status: 200, text: `{"m":"${markers[0]}"}` })).toThrow(/leaked/);
    expect(() => check({ method: 'GET', path: '/x' }, { status: 502, text: '' })).toThrow(/answered 502/);
    expect(() => check({ method: 'GET', path: '/x', foreign: true }, { status: 200, text: '{}' })).toThrow(/aimed at globex/);
    expect((await fetch(`${stack.baseUrl}/readyz`)).status).toBe(200);
    const created = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'after the storm' } }] });
    expect(created.status).toBe(201);
    expect((await stack.api('GET', `/agent/runs/${created.body.run_id}`)).body.status).toBe('created');
    // globex still sees its own file, acme still cannot.
    const own = await stack.api('GET', `/agent/runs/${globexRuns[0]}/files/secret/marker.txt`, undefined, { token: TOKENS.globex });
    expect(own.body).toBe(`${marker}-file-content`);
    expect((await stack.api('GET', `/agent/runs/${globexRuns[0]}/files/secret/marker.txt`)).status).toBe(404);
  });
});
