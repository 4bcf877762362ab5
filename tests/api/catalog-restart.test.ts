import { AddressInfo } from 'node:net';
import { createLogger } from '@agentyard/observability';
import { buildApp } from '../../apps/api/src/app';
import { createApiDeps } from '../../apps/api/src/compose';
import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('tool catalog', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'catalog' });
  });
  afterAll(() => stack.stop());

  it('lists every tool with its JSON Schema and metadata', async () => {
    const { status, body } = await stack.api('GET', '/agent/tools');
    expect(status).toBe(200);
    const byName = Object.fromEntries(body.tools.map((t: { name: string }) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(['fail', 'fs.delete', 'fs.list', 'fs.read', 'fs.write', 'log', 'wait']);
    expect(byName['fs.write']).toMatchObject({
      side_effects: 'reversible',
      requires_approval: false,
      timeout_s: 60,
      args_schema: { type: 'object', required: expect.arrayContaining(['path', 'content']) },
    });
    expect(byName['fs.delete'].side_effects).toBe('irreversible');
    expect(byName['wait'].args_schema.properties.seconds).toMatchObject({ type: 'number', maximum: 3600 });
  });
});

describe('persistence across API restarts', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'restart' });
  });
  afterAll(() => stack.stop());

  it('serves a finished run, its history, stream and files from a freshly started API process state', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [{ tool: 'fs.write', args: { path: 'kept.txt', content: 'still here' } }],
    });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    const before = (await stack.api('GET', `/agent/logs/${body.run_id}`)).body.events;

    // A second API built from nothing but the same configuration: all it knows is in Redis and the workspace.
    const logger = createLogger({ level: 'silent', name: 'restarted' });
    const deps = await createApiDeps(stack.config, { logger, workspace: stack.workspace, version: 'restarted' });
    const server = buildApp(deps).listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const headers = { Authorization: `Bearer ${TOKENS.acme}` };
      const run = await (await fetch(`${base}/agent/runs/${body.run_id}`, { headers })).json();
      expect(run).toMatchObject({ status: 'succeeded', steps: [{ status: 'succeeded', output: { path: 'kept.txt' } }] });
      const logs = await (await fetch(`${base}/agent/logs/${body.run_id}`, { headers })).json();
      expect(logs.events).toEqual(before);
      expect(await (await fetch(`${base}/agent/runs/${body.run_id}/files/kept.txt`, { headers })).text()).toBe('still here');
      const sse = await openSse(`${base}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
      await sse.closed;
      expect(sse.events.map((e) => e.id)).toEqual(before.map((e: { id: string }) => e.id));
    } finally {
      server.closeAllConnections();
      server.close();
      await deps.close();
    }
  });
});
