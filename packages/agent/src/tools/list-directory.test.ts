import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsWorkspace, S3Workspace, scopeWorkspace, type Workspace } from '@agentyard/workspace';
import { createFileTools } from './fs-tools';
import { listDirectory } from './list-directory';

const dir = mkdtempSync(join(tmpdir(), 'ay-list-dir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const drivers: Array<[string, () => Workspace]> = [
  ['FsWorkspace', () => new FsWorkspace({ dir })],
  [
    'S3Workspace on s3rver',
    () =>
      new S3Workspace({
        bucket: process.env.TEST_S3_BUCKET as string,
        endpoint: process.env.TEST_S3_ENDPOINT as string,
        forcePathStyle: true,
        region: 'us-east-1',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      }),
  ],
];

const FILES = ['a.txt', 'bx.txt', 'b/c.txt', 'b/d/e.txt', 'b/d/f.txt', 'b/g.txt', 'c/h.txt', 'z.txt'];
const fsList = createFileTools().find((t) => t.name === 'fs.list')!;
const paths = (l: { entries: Array<{ path: string; type: string }> }) => l.entries.map((e) => `${e.type === 'directory' ? 'dir' : 'file'}:${e.path}`);

describe.each(drivers)('fs.list over %s', (_name, make) => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = scopeWorkspace(make(), `tenants/t/workspaces/ls-${randomBytes(4).toString('hex')}`);
    for (const f of FILES) await ws.write(f, 'x');
  });

  it('lists a directory like ls: its files and its subdirectories once each, sorted by name', async () => {
    const root = await listDirectory(ws, '', { recursive: false, limit: 100 });
    expect(paths(root)).toEqual(['file:a.txt', 'dir:b', 'file:bx.txt', 'dir:c', 'file:z.txt']);
    expect(root.truncated).toBe(false);
    expect(paths(await listDirectory(ws, 'b', { recursive: false, limit: 100 }))).toEqual(['file:b/c.txt', 'dir:b/d', 'file:b/g.txt']);
  });

  it('keeps a sibling that only shares the directory name (b-x.txt next to b/) a file of its own', async () => {
    const other = scopeWorkspace(make(), `tenants/t/workspaces/ls-${randomBytes(4).toString('hex')}`);
    for (const f of ['b-x.txt', 'b/c.txt', 'b/d/e.txt']) await other.write(f, 'x');
    expect(paths(await listDirectory(other, '', { recursive: false, limit: 100 }))).toEqual(['dir:b', 'file:b-x.txt']);
  });

  it('gives the same listing when it pages two keys at a time', async () => {
    const paged = await listDirectory(ws, '', { recursive: false, limit: 100, pageSize: 2 });
    expect(paths(paged)).toEqual(['file:a.txt', 'dir:b', 'file:bx.txt', 'dir:c', 'file:z.txt']);
  });

  it('stops at limit and says more follow', async () => {
    const cut = await listDirectory(ws, '', { recursive: false, limit: 3, pageSize: 2 });
    expect(paths(cut)).toEqual(['file:a.txt', 'dir:b', 'file:bx.txt']);
    expect(cut.truncated).toBe(true);
    const exact = await listDirectory(ws, 'b', { recursive: false, limit: 3 });
    expect(exact.truncated).toBe(false);
  });

  it('lists every file below with recursive', async () => {
    expect(paths(await listDirectory(ws, 'b', { recursive: true, limit: 100 }))).toEqual(['file:b/c.txt', 'file:b/d/e.txt', 'file:b/d/f.txt', 'file:b/g.txt']);
  });

  it('takes path ("" and "." are the root), recursive, and the deprecated prefix, which stays recursive', async () => {
    const ctx = { workspace: ws, signal: new AbortController().signal, runId: 'run_x', stepId: 's', attempt: 1, log: async () => undefined };
    const run = async (args: unknown) => fsList.run(fsList.args.parse(args), ctx) as Promise<any>;
    for (const path of ['', '.', './']) expect(paths(await run({ path }))).toEqual(['file:a.txt', 'dir:b', 'file:bx.txt', 'dir:c', 'file:z.txt']);
    expect(paths(await run({}))).toHaveLength(5);
    expect(await run({ path: 'b/', recursive: true })).toMatchObject({ path: 'b', recursive: true, truncated: false });
    expect(paths(await run({ prefix: 'b/d' }))).toEqual(['file:b/d/e.txt', 'file:b/d/f.txt']);
    expect((await run({ prefix: '' })).recursive).toBe(true);
  });
});

describe('fs.list arguments', () => {
  it.each([
    [{ path: '../x' }, 'path'],
    [{ path: '/etc' }, 'path'],
    [{ path: 'a', prefix: 'b' }, 'prefix'],
    [{ recursive: 'yes' }, 'recursive'],
  ])('refuses %j naming %s', (args, field) => {
    const r = fsList.args.safeParse(args);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});
