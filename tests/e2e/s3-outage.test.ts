import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/global-setup';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');

/** An s3rver of this test's own, stopped and started again under a running stack. */
describe('an S3 outage under a running stack', () => {
  let port: number;
  let dir: string;
  let s3: { run(): Promise<unknown>; close(): Promise<void> } | undefined;
  let stack: Stack;

  const startS3 = async () => {
    s3 = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'outage' }] });
    await s3!.run();
  };
  const stopS3 = async () => {
    await s3?.close();
    s3 = undefined;
  };

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'ay-outage-s3-'));
    await startS3();
    stack = await startStack({
      driver: 's3',
      workers: 1,
      label: 's3-outage',
      env: { S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_BUCKET: 'outage', RETRY_BACKOFF_MS: '500', WORKER_ARCHIVE_RETRY_S: '0.5' },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await stopS3();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the workspace down, hands the run back without spending an attempt while S3 is gone, and finishes it once S3 is back', async () => {
    await stopS3();
    const ready = await stack.api('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toContain('workspace');

    const { body } = await stack.execute({
      action: 'create',
      start: true,
      // One attempt only: an outage of the store must not spend it (it dead-lettered runs before).
      options: { max_attempts: 1 },
      steps: [
        { id: 'note', tool: 'log', args: { message: 'before the write' } },
        { id: 'write', tool: 'fs.write', args: { path: 'out.txt', content: 'stored after the outage' }, needs: ['note'] },
      ],
    });
    const runId: string = body.run_id;
    const handBacks = async () =>
      ((await stack.api('GET', `/agent/logs/${runId}?limit=1000`)).body.events as Array<Record<string, any>>).filter(
        (e) => e.type === 'log' && /without spending an attempt/.test(e.message ?? ''),
      );
    await waitFor(async () => (await handBacks()).length > 0, { label: 'the run to be handed back on the missing store', timeoutMs: 20_000 });
    expect((await handBacks())[0]!.message).toMatch(/^S3 could not write out\.txt in bucket outage: .*; retrying in 5 s without spending an attempt$/);
    expect((await stack.api('GET', `/agent/runs/${runId}`)).body).toMatchObject({ status: 'queued', attempts: 0 });

    await startS3();
    const run = await stack.waitForStatus(runId, ['succeeded', 'dead_lettered'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.attempts).toBe(1);
    expect(run.steps.map((s: { id: string; attempts: number }) => `${s.id}:${s.attempts}`)[0]).toBe('note:1');
    expect((await stack.api('GET', `/agent/runs/${runId}/files/out.txt`)).body).toBe('stored after the outage');
    const files = (await stack.api('GET', `/agent/runs/${runId}/files`)).body.entries.map((e: { path: string }) => e.path);
    expect(files).toEqual(expect.arrayContaining([`.agent/runs/${runId}/run.json`, 'out.txt']));
    expect((await stack.api('GET', '/readyz')).status).toBe(200);
  });

  it('ends a run whose archive cannot be written, and writes the archive once S3 is back', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'note', tool: 'log', args: { message: 'no files touched' } },
        { id: 'pause', tool: 'wait', args: { seconds: 1 }, needs: ['note'] },
      ],
    });
    const runId: string = body.run_id;
    await waitFor(async () => (await stack.api('GET', `/agent/runs/${runId}`)).body.steps[1].status === 'running', { label: 'the wait step to run' });
    await stopS3();
    // The run ends on time although its archive could not be written.
    const run = await stack.waitForStatus(runId, ['succeeded', 'dead_lettered'], 20_000);
    expect(run.status).toBe('succeeded');
    expect((await stack.api('GET', `/agent/runs/${runId}/files/.agent/runs/${runId}/run.json`)).status).toBe(503);

    await startS3();
    let archived: { status: number; body: any } | undefined;
    await waitFor(
      async () => {
        archived = await stack.api('GET', `/agent/runs/${runId}/files/.agent/runs/${runId}/run.json`);
        return archived.status === 200;
      },
      { label: 'the pending archive to be written', timeoutMs: 15_000 },
    );
    const doc = typeof archived!.body === 'string' ? JSON.parse(archived!.body) : archived!.body;
    expect(doc).toMatchObject({ id: runId, status: 'succeeded' });
    await waitFor(async () => (await stack.archivedEvents(runId)).at(-1)?.type === 'end', { label: 'the archive to hold end' });
    const events = await stack.archivedEvents(runId);
    expect(events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
  });
});
