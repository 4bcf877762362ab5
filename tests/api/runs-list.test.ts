import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { RUN_LIST_VIEW_BYTES } from '@agentyard/runs';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

const CLI = join(__dirname, '..', '..', 'apps', 'cli', 'dist', 'main.js');

function yardctl(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('GET /agent/runs paging', () => {
  let stack: Stack;
  const created: string[] = [];
  beforeAll(async () => {
    stack = await startStack({ label: 'runs-list' });
    for (let i = 0; i < 7; i++) {
      const res = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: `run ${i}` } }] });
      expect(res.status).toBe(201);
      created.push(res.body.run_id);
    }
    // Another tenant's runs sit in its own index and must never show up.
    await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'globex' } }] }, TOKENS.globex);
  });
  afterAll(() => stack.stop());

  it('pages through every run exactly once, newest first, following next_cursor with limit=2', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await stack.api('GET', `/agent/runs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.runs.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.runs.map((r: { id: string }) => r.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(pages).toBe(4);
    expect(seen).toEqual([...created].reverse());
  });

  it('pages the same way with a status filter', async () => {
    const first = await stack.api('GET', '/agent/runs?status=created&limit=3');
    const second = await stack.api('GET', `/agent/runs?status=created&limit=3&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(second.status).toBe(200);
    expect([...first.body.runs, ...second.body.runs].map((r: { id: string }) => r.id)).toEqual([...created].reverse().slice(0, 6));
  });

  it.each([['garbage'], ['1:run_00000000000000000000000000'], ['run_short']])('answers 400 naming cursor for cursor=%s', async (cursor) => {
    const res = await stack.api('GET', `/agent/runs?cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', details: [{ path: 'cursor' }] });
  });

  it('lists every run with yardctl runs list --all over several pages', async () => {
    const env = { AGENTYARD_API_URL: stack.baseUrl, AGENTYARD_TOKEN: TOKENS.acme };
    const r = await yardctl(['--json', 'runs', 'list', '--all', '--limit', '3'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).runs.map((x: { id: string }) => x.id)).toEqual([...created].reverse());
  });
});

describe('GET /agent/runs stays bounded whatever the runs hold', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Multi-MB args need a step args limit as large as the body limit.
    stack = await startStack({ label: 'runs-bound', env: { API_STEP_ARGS_LIMIT: '4mb' } });
  });
  afterAll(() => stack.stop());

  it('cuts multi-MB args to previews and leaves out steps past the per-run budget', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await stack.execute({ action: 'create', steps: [{ id: 'w', tool: 'fs.write', args: { path: `f${i}.txt`, content: big } }] });
      expect(res.status).toBe(201);
      ids.push(res.body.run_id);
    }
    // Many steps of 15 KB args: each preview is small, together they are not.
    const many = Array.from({ length: 200 }, (_, i) => ({ id: `s${i}`, tool: 'fs.write', args: { path: `s${i}.txt`, content: 'y'.repeat(15_000) } }));
    const wide = await stack.execute({ action: 'create', steps: many, options: { max_steps: 200 } });
    expect(wide.status).toBe(201);

    const res = await fetch(`${stack.baseUrl}/agent/runs?limit=200`, { headers: { Authorization: `Bearer ${TOKENS.acme}` } });
    const text = await res.text();
    expect(res.status).toBe(200);
    const runs = JSON.parse(text).runs as any[];
    expect(runs).toHaveLength(6);
    expect(Buffer.byteLength(text)).toBeLessThan(6 * RUN_LIST_VIEW_BYTES);
    for (const r of runs) expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThanOrEqual(RUN_LIST_VIEW_BYTES);
    const bigOnes = runs.filter((r) => ids.includes(r.id));
    expect(bigOnes).toHaveLength(5);
    for (const r of bigOnes) expect(r.steps[0].args).toMatchObject({ truncated: true, size: expect.any(Number), preview: expect.any(String) });
    expect(bigOnes[0].steps[0].args.size).toBeGreaterThan(3 * 1024 * 1024);
    const wideView = runs.find((r) => r.id === wide.body.run_id);
    expect(wideView.steps_omitted).toBeGreaterThan(0);
    expect(wideView.steps.length + wideView.steps_omitted).toBe(200);

    // The run itself still answers with the args as they were sent.
    const one = await stack.api('GET', `/agent/runs/${ids[0]}`);
    expect(one.body.steps[0].args.content).toHaveLength(big.length);
  });
});
