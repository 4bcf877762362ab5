import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../helpers/global-setup';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const API_ENTRY = join(__dirname, '..', '..', 'apps', 'api', 'dist', 'main.js');
const METRICS_TOKEN = 'metrics-scrape-token-0123456789';

describe('who may read the API /metrics', () => {
  describe('METRICS_TOKEN set', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ label: 'metrics-token', env: { METRICS_TOKEN } });
    });
    afterAll(() => stack.stop());

    it('answers 401 without the token or with another one (a tenant key included), and Prometheus text with it', async () => {
      for (const token of ['', 'not-the-metrics-token-at-all', TOKENS.acme, TOKENS.ops]) {
        const res = await stack.api('GET', '/metrics', undefined, { token });
        expect(res.status).toBe(401);
        expect(res.body.error).toMatchObject({ code: 'unauthorized' });
        expect(res.body.error.message).toContain('METRICS_TOKEN');
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
      }
      const ok = await stack.api('GET', '/metrics', undefined, { token: METRICS_TOKEN });
      expect(ok.status).toBe(200);
      expect(String(ok.body)).toMatch(/^agentyard_queue_depth\{state="waiting"\} \d+$/m);
      // Health stays open for probes.
      expect((await stack.api('GET', '/healthz', undefined, { token: '' })).status).toBe(200);
    });
  });

  describe('API_METRICS_PORT set (the built API process)', () => {
    let stack: Stack;
    let api: ChildProcess;
    let port: number;
    let metricsPort: number;
    let output = '';
    beforeAll(async () => {
      stack = await startStack({ label: 'metrics-port' });
      port = await freePort();
      metricsPort = await freePort();
      api = spawn(process.execPath, [API_ENTRY], {
        env: { PATH: process.env.PATH ?? '', ...stack.env, API_PORT: String(port), API_METRICS_PORT: String(metricsPort), METRICS_TOKEN, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      api.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      api.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.status === 401, {
        label: `the metrics port to answer; output: ${output.slice(-500)}`,
        timeoutMs: 15_000,
      });
    });
    afterAll(async () => {
      if (api.exitCode === null) {
        const exited = new Promise((r) => api.once('exit', r));
        api.kill('SIGTERM');
        await exited;
      }
      await stack.stop();
    });

    it('serves /metrics only on its own port (with the token there too), and not on API_PORT', async () => {
      const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^agentyard_http_requests_total|^# HELP agentyard_/m);
      const onApi = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(onApi.status).toBe(404);
      expect(((await onApi.json()) as any).error.code).toBe('not_found');
      // The metrics port serves nothing else.
      const other = await fetch(`http://127.0.0.1:${metricsPort}/agent/queue/stats`, { headers: { Authorization: `Bearer ${TOKENS.ops}` } });
      expect(other.status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // The API batches its log lines (up to 100 ms), so the line may trail the port opening.
      await waitFor(() => output.includes('agentyard api metrics listening'), { label: 'the metrics listening line', timeoutMs: 5000 });
      expect(output).not.toContain(METRICS_TOKEN);
    });
  });
});
