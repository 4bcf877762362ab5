import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkspace, scopeWorkspace, type Workspace } from '@agentyard/workspace';
import { ExecError } from './exec-errors';
import { collectChanges, materialise, type SkippedFile } from './workspace-sync';

const tmpRoot = mkdtempSync(join(tmpdir(), 'ay-sync-test-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const limits = { workspaceBytes: 1024 * 1024, workspaceFiles: 100 };

const drivers: Array<[string, () => Workspace]> = [
  ['fs', () => createWorkspace({ driver: 'fs', dir: join(tmpRoot, 'store') })],
  [
    's3',
    () =>
      createWorkspace({
        driver: 's3',
        bucket: process.env.TEST_S3_BUCKET as string,
        endpoint: process.env.TEST_S3_ENDPOINT as string,
        region: 'us-east-1',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        forcePathStyle: true,
      }),
  ],
];

describe.each(drivers)('workspace sync on the %s driver', (_name, make) => {
  const store = make();
  const roots: string[] = [];
  const fresh = (): Workspace => {
    const root = `sync-test/${randomUUID()}`;
    roots.push(root);
    return scopeWorkspace(store, root);
  };
  const sandbox = () => mkdtempSync(join(tmpRoot, 'box-'));

  afterAll(async () => {
    for (const root of roots) {
      const ws = scopeWorkspace(store, root);
      for (const e of (await ws.list('', { limit: 10_000 })).entries) await ws.delete(e.path);
    }
  });

  it('copies every file in, leaving .agent/ out, and reports created, modified and deleted files back', async () => {
    const ws = fresh();
    await ws.write('keep.txt', 'same');
    await ws.write('edit.txt', 'before');
    await ws.write('gone.txt', 'bye');
    await ws.write('deep/nested/file.txt', 'nested');
    await ws.write('.agent/runs/r1/run.json', '{"secret":"archive"}');
    const dir = sandbox();

    const snap = await materialise(ws, dir, limits);
    expect([...snap.files.keys()].sort()).toEqual(['deep/nested/file.txt', 'edit.txt', 'gone.txt', 'keep.txt']);
    expect(readFileSync(join(dir, 'deep/nested/file.txt'), 'utf8')).toBe('nested');
    expect(existsSync(join(dir, '.agent'))).toBe(false);

    writeFileSync(join(dir, 'keep.txt'), 'same'); // rewritten with the same bytes: no change
    writeFileSync(join(dir, 'edit.txt'), 'after');
    unlinkSync(join(dir, 'gone.txt'));
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out/new.bin'), Buffer.from([0, 1, 2, 255]));

    const changes = await collectChanges(ws, snap, dir, { limits });
    expect(changes).toEqual([
      { path: 'edit.txt', change: 'modified' },
      { path: 'gone.txt', change: 'deleted' },
      { path: 'out/new.bin', change: 'created' },
    ]);
    expect((await ws.read('edit.txt')).toString()).toBe('after');
    expect(await ws.stat('gone.txt')).toBeUndefined();
    expect(await ws.read('out/new.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect((await ws.read('.agent/runs/r1/run.json')).toString()).toBe('{"secret":"archive"}');
  });

  it('sees a change of content that keeps the size and the mtime', async () => {
    const ws = fresh();
    await ws.write('a.txt', 'aaaa');
    const dir = sandbox();
    const snap = await materialise(ws, dir, limits);
    const file = join(dir, 'a.txt');
    const { atime, mtime } = statSync(file);
    writeFileSync(file, 'bbbb');
    utimesSync(file, atime, mtime);
    expect(await collectChanges(ws, snap, dir, { limits })).toEqual([{ path: 'a.txt', change: 'modified' }]);
    expect((await ws.read('a.txt')).toString()).toBe('bbbb');
  });

  it('writes back no link, fifo or .agent/ file, names each as skipped, and deletes a file that became a link', async () => {
    const ws = fresh();
    await ws.write('was-file.txt', 'x');
    const dir = sandbox();
    const snap = await materialise(ws, dir, limits);
    const outside = join(tmpRoot, `outside-${randomUUID()}`);
    mkdirSync(outside);
    writeFileSync(join(outside, 'host-secret'), 'host secret');
    symlinkSync(join(outside, 'host-secret'), join(dir, 'link-to-file'));
    symlinkSync(outside, join(dir, 'link-to-dir'));
    unlinkSync(join(dir, 'was-file.txt'));
    symlinkSync('/etc/passwd', join(dir, 'was-file.txt'));
    expect(spawnSync('mkfifo', [join(dir, 'pipe')]).status).toBe(0);
    mkdirSync(join(dir, '.agent/exec/s/1'), { recursive: true });
    writeFileSync(join(dir, '.agent/exec/s/1/stdout.txt'), 'forged');

    const skipped: SkippedFile[] = [];
    const changes = await collectChanges(ws, snap, dir, { limits, onSkip: (s) => skipped.push(s) });

    expect(changes).toEqual([{ path: 'was-file.txt', change: 'deleted' }]);
    expect(skipped.map((s) => s.path).sort()).toEqual(['.agent', 'link-to-dir', 'link-to-file', 'pipe', 'was-file.txt']);
    expect(skipped.find((s) => s.path === 'link-to-file')?.reason).toMatch(/symbolic link/);
    expect(skipped.find((s) => s.path === 'pipe')?.reason).toMatch(/not a regular file/);
    const listed = (await ws.list('', { limit: 100 })).entries.map((e) => e.path);
    expect(listed).toEqual([]);
  });

  it('refuses a workspace over the byte limit before copying anything', async () => {
    const ws = fresh();
    await ws.write('a.bin', Buffer.alloc(600));
    await ws.write('b.bin', Buffer.alloc(600));
    const dir = sandbox();
    const err = await materialise(ws, dir, { workspaceBytes: 1000, workspaceFiles: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecError);
    expect(err).toMatchObject({ code: 'exec_limit', retryable: false });
    expect((err as Error).message).toMatch(/EXECUTOR_WORKSPACE_MAX_MB/);
    expect(spawnSync('find', [dir, '-mindepth', '1']).stdout.toString()).toBe('');
  });

  it('refuses a workspace over the file-count limit before copying anything, not counting .agent/', async () => {
    const ws = fresh();
    for (const p of ['1', '2', '3']) await ws.write(p, p);
    await ws.write('.agent/runs/r/run.json', '{}');
    await expect(materialise(ws, sandbox(), { workspaceBytes: 1000, workspaceFiles: 3 })).resolves.toMatchObject({ bytes: 3 });
    const dir = sandbox();
    await expect(materialise(ws, dir, { workspaceBytes: 1000, workspaceFiles: 2 })).rejects.toMatchObject({
      code: 'exec_limit',
      message: expect.stringMatching(/EXECUTOR_WORKSPACE_MAX_FILES/),
    });
    expect(spawnSync('find', [dir, '-mindepth', '1']).stdout.toString()).toBe('');
  });

  it('writes nothing back when the command left more than the limit', async () => {
    const ws = fresh();
    const dir = sandbox();
    const snap = await materialise(ws, dir, limits);
    writeFileSync(join(dir, 'big1'), Buffer.alloc(700));
    writeFileSync(join(dir, 'big2'), Buffer.alloc(700));
    await expect(collectChanges(ws, snap, dir, { limits: { workspaceBytes: 1000, workspaceFiles: 10 } })).rejects.toMatchObject({
      code: 'exec_limit',
    });
    expect((await ws.list('')).entries).toEqual([]);
  });
});
