import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../helpers/global-setup';
import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');

/** A real API process from the built entrypoint, stopped with SIGTERM mid-request. */
describe('api process on SIGTERM', () => {
  let stack: Stack;
  let api: ChildProcess;
  let port: number;
  let output = '';
  beforeAll(async () => {
    stack = await startStack({ label: 'api-drain' });
    port = await freePort();
    api = spawn(process.execPath, [API_ENTRY], {
      env: { PATH: process.env.PATH ?? '', ...stack.env, API_PORT: String(port), API_DRAIN_S: '5', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    api.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    api.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true, { label: 'the api to listen' });
  });
  afterAll(async () => {
    if (api.exitCode === null) api.kill('SIGKILL');
    await stack.stop();
  });

  it('finishes a create that is still arriving, ends open SSE streams, refuses new connections, and exits 0', async () => {
    const existing = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'streamed' } }] });
    const sse = await openSse(`http://127.0.0.1:${port}/agent/logs/${existing.body.run_id}/stream`, { token: TOKENS.acme });
    await sse.waitFor((e) => e.event === 'status', 'the created status event');

    const body = JSON.stringify({ action: 'create', steps: [{ tool: 'log', args: { message: 'sent across the SIGTERM' } }] });
    const half = Math.floor(body.length / 2);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/agent/execute', headers: { Authorization: `Bearer ${TOKENS.acme}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      // The rest goes out after the API has been told to stop.
      setTimeout(() => req.end(body.slice(half)), 500);
    });
    await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise<number | null>((r) => api.once('exit', (code) => r(code)));
    api.kill('SIGTERM');
    await waitFor(() => output.includes('finishing requests in flight'), { label: 'the api to start draining' });
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    const res = await answer;
    expect(res.status).toBe(201);
    const runId = JSON.parse(res.body).run_id as string;
    expect((await stack.api('GET', `/agent/runs/${runId}`)).body.status).toBe('created');
    await sse.closed; // cut by the stopping API; the client resumes elsewhere with Last-Event-ID
    expect(await exited).toBe(0);
    expect(output).not.toContain('cut the requests still running');
  });
});
