/// <reference types="jest" />
import { randomBytes, randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from '@agentyard/core';
import { scopeWorkspace } from './scope-workspace';
import { compareKeys, type ListOptions, type Workspace, type WorkspaceEntry } from './workspace';

/**
 * The one test suite every Workspace driver must pass; a driver's test file calls it with a
 * factory for a ready instance. Each test works in its own scoped workspace under a random
 * root, so runs against a shared store never collide, and afterAll deletes what it wrote.
 * Not a .test.ts file itself: it only defines tests when a test file calls it.
 */
export function describeWorkspace(name: string, factory: () => Workspace | Promise<Workspace>): void {
  describe(`${name} (workspace conformance)`, () => {
    let store: Workspace;
    const roots: string[] = [];
    const runRoot = `conformance/${randomUUID()}`;

    function fresh(): Workspace {
      const root = `${runRoot}/${roots.length}`;
      roots.push(root);
      return scopeWorkspace(store, root);
    }

    beforeAll(async () => {
      store = await factory();
    });

    afterAll(async () => {
      if (store) await removeAll(scopeWorkspace(store, runRoot));
    });

    it('reads back exactly the text it wrote and reports its size in UTF-8 bytes', async () => {
      const ws = fresh();
      const text = 'héllo wörld ✓\nsecond line\n';
      await expect(ws.write('notes/hello.txt', text, { contentType: 'text/plain' })).resolves.toEqual({
        size: Buffer.byteLength(text, 'utf8'),
      });
      expect((await ws.read('notes/hello.txt')).toString('utf8')).toBe(text);
    });

    it('reads back binary bytes exactly, with no transfer framing mixed into the content', async () => {
      const ws = fresh();
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      // Large enough to span several transfer chunks, and random so no framing can hide in it.
      const body = Buffer.concat([every, randomBytes(300 * 1024), every]);
      await expect(ws.write('bin/blob.dat', body)).resolves.toEqual({ size: body.length });
      const back = await ws.read('bin/blob.dat');
      expect(back.length).toBe(body.length);
      expect(back.equals(body)).toBe(true);
    });

    it('writes and reads an empty file as zero bytes', async () => {
      const ws = fresh();
      await expect(ws.write('empty', '')).resolves.toEqual({ size: 0 });
      expect((await ws.read('empty')).length).toBe(0);
      expect((await ws.stat('empty'))?.size).toBe(0);
    });

    it('overwriting replaces the whole content, also with a shorter body', async () => {
      const ws = fresh();
      await ws.write('a.txt', 'a long first version');
      await ws.write('a.txt', 'short');
      expect((await ws.read('a.txt')).toString()).toBe('short');
      expect((await ws.stat('a.txt'))?.size).toBe(5);
    });

    it('reading a missing file rejects with NotFoundError naming the path as the caller gave it', async () => {
      const ws = fresh();
      const err = await ws.read('nope/missing.txt').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).message).toBe('file nope/missing.txt not found');
    });

    it('stat reports path, size and an ISO modified time, and undefined for a missing file', async () => {
      const ws = fresh();
      const before = Date.now();
      await ws.write('s/one.txt', '12345');
      const entry = await ws.stat('s/one.txt');
      expect(entry).toEqual({ path: 's/one.txt', size: 5, modified: expect.any(String) });
      const modified = Date.parse((entry as WorkspaceEntry).modified);
      expect(new Date(modified).toISOString()).toBe((entry as WorkspaceEntry).modified);
      // Stores keep whole seconds at worst (S3's Last-Modified), so allow that much skew.
      expect(modified).toBeGreaterThanOrEqual(before - 2_000);
      expect(modified).toBeLessThanOrEqual(Date.now() + 2_000);
      await expect(ws.stat('s/two.txt')).resolves.toBeUndefined();
      await expect(ws.stat('s')).resolves.toBeUndefined();
    });

    it('delete returns true for an existing file, then false, and the file is gone', async () => {
      const ws = fresh();
      await ws.write('d/x.txt', 'x');
      await expect(ws.delete('d/x.txt')).resolves.toBe(true);
      await expect(ws.delete('d/x.txt')).resolves.toBe(false);
      await expect(ws.delete('never/was.txt')).resolves.toBe(false);
      await expect(ws.read('d/x.txt')).rejects.toBeInstanceOf(NotFoundError);
      await expect(ws.stat('d/x.txt')).resolves.toBeUndefined();
      expect((await ws.list('d')).entries).toEqual([]);
    });

    it('treats ./a//b/./c.txt and a/b/c.txt/ as the same file as a/b/c.txt', async () => {
      const ws = fresh();
      await ws.write('./a//b/./c.txt', 'same');
      expect((await ws.read('a/b/c.txt')).toString()).toBe('same');
      expect((await ws.stat('a/b/c.txt/'))?.path).toBe('a/b/c.txt');
      expect((await ws.list('')).entries.map((e) => e.path)).toEqual(['a/b/c.txt']);
    });

    it('lists files under a directory-like prefix, sorted, excluding siblings that only share its letters', async () => {
      const ws = fresh();
      const files = ['docs/b.txt', 'docs/a.txt', 'docs/sub/c.txt', 'docs2/x.txt', 'docsa.txt', 'top.txt'];
      await Promise.all(files.map((f) => ws.write(f, f)));
      const docs = await ws.list('docs');
      expect(docs.entries.map((e) => e.path)).toEqual(['docs/a.txt', 'docs/b.txt', 'docs/sub/c.txt']);
      expect(docs.entries[0]).toEqual({ path: 'docs/a.txt', size: 10, modified: expect.any(String) });
      expect(docs.next_cursor).toBeUndefined();
      expect((await ws.list('docs/')).entries.map((e) => e.path)).toEqual(docs.entries.map((e) => e.path));
      expect((await ws.list('docs/sub')).entries.map((e) => e.path)).toEqual(['docs/sub/c.txt']);
      expect((await ws.list('')).entries.map((e) => e.path)).toEqual([...files].sort(compareKeys));
      await expect(ws.list('nothing/here')).resolves.toEqual({ entries: [] });
    });

    it('pages with next_cursor and leaves it out on the last page, even a full one', async () => {
      const ws = fresh();
      await Promise.all(['p/1', 'p/2', 'p/3', 'p/4'].map((f) => ws.write(f, f)));
      const first = await ws.list('p', { limit: 2 });
      expect(first.entries.map((e) => e.path)).toEqual(['p/1', 'p/2']);
      expect(first.next_cursor).toEqual(expect.any(String));
      const second = await ws.list('p', { limit: 2, cursor: first.next_cursor as string });
      expect(second.entries.map((e) => e.path)).toEqual(['p/3', 'p/4']);
      expect(second.next_cursor).toBeUndefined();
    });

    it('rejects a list limit outside 1 to 10000 with ValidationError naming limit', async () => {
      const ws = fresh();
      for (const limit of [0, -1, 1.5, 10_001]) {
        const err = await ws.list('', { limit }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).details[0]?.path).toBe('limit');
      }
    });

    describe('with 1,050 files, more than one store page', () => {
      const total = 1050;
      let ws: Workspace;
      const expected = Array.from({ length: total }, (_, i) => `many/f-${String(i).padStart(4, '0')}.txt`);

      beforeAll(async () => {
        ws = fresh();
        await inParallel(expected, 16, (p) => ws.write(p, p));
      }, 120_000);

      it('pages of 400 return all 1,050 paths once each, in sorted order, then stop', async () => {
        const pages = await allPages(ws, 'many', { limit: 400 });
        expect(pages.map((p) => p.length)).toEqual([400, 400, 250]);
        const paths = pages.flat().map((e) => e.path);
        expect(new Set(paths).size).toBe(total);
        expect(paths).toEqual([...expected].sort(compareKeys));
      });

      it('one page of up to 2,000 returns all 1,050 paths and no cursor', async () => {
        const page = await ws.list('many', { limit: 2000 });
        expect(page.entries.map((e) => e.path)).toEqual(expected);
        expect(page.next_cursor).toBeUndefined();
      });

      it('the default limit is 1,000, with a cursor to the remaining 50', async () => {
        const first = await ws.list('many');
        expect(first.entries).toHaveLength(1000);
        const rest = await ws.list('many', { cursor: first.next_cursor as string });
        expect(rest.entries.map((e) => e.path)).toEqual(expected.slice(1000));
        expect(rest.next_cursor).toBeUndefined();
      });
    });

    it('two scopes never see each other’s files, even when one root is a prefix of the other', async () => {
      const root = `${runRoot}/isolation`;
      const a = scopeWorkspace(store, `${root}/a`);
      const ab = scopeWorkspace(store, `${root}/ab`);
      await a.write('f.txt', 'from a');
      await ab.write('f.txt', 'from ab');
      await ab.write('only-ab.txt', 'x');
      expect((await a.read('f.txt')).toString()).toBe('from a');
      expect((await ab.read('f.txt')).toString()).toBe('from ab');
      expect((await a.list('')).entries.map((e) => e.path)).toEqual(['f.txt']);
      await expect(a.read('only-ab.txt')).rejects.toBeInstanceOf(NotFoundError);
      await expect(a.read('../ab/only-ab.txt')).rejects.toBeInstanceOf(ValidationError);
      await expect(a.delete('f.txt')).resolves.toBe(true);
      expect((await ab.read('f.txt')).toString()).toBe('from ab');
    });

    it('rejects invalid paths with ValidationError in every operation and stores nothing', async () => {
      const ws = fresh();
      const bad = ['../x', 'a/../../x', '/etc/passwd', '', '.', 'a\\b', 'nul\u0000byte', 'bell\u0007', 'x'.repeat(256)];
      for (const p of bad) {
        await expect(ws.write(p, 'x')).rejects.toBeInstanceOf(ValidationError);
        await expect(ws.read(p)).rejects.toBeInstanceOf(ValidationError);
        await expect(ws.stat(p)).rejects.toBeInstanceOf(ValidationError);
        await expect(ws.delete(p)).rejects.toBeInstanceOf(ValidationError);
        if (p !== '' && p !== '.') await expect(ws.list(p)).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(store.write('../escape.txt', 'x')).rejects.toBeInstanceOf(ValidationError);
      expect((await ws.list('')).entries).toEqual([]);
    });

    it('refuses names like its temp files (.~ay-tmp.*) on write and read, naming path, so nothing unlistable is ever stored', async () => {
      const ws = fresh();
      for (const p of ['.~ay-tmp.0123456789abcdef', 'dir/.~ay-tmp.x', '.~ay-tmp./f']) {
        const refused = await ws.write(p, 'hidden').catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(ValidationError);
        expect((refused as ValidationError).details[0]).toEqual({ path: 'path', message: expect.stringContaining('.~ay-tmp.') });
        await expect(ws.read(p)).rejects.toBeInstanceOf(ValidationError);
      }
      // A name that only resembles it is an ordinary file.
      await ws.write('~ay-tmp.note', 'kept');
      expect((await ws.list('')).entries.map((e) => e.path)).toEqual(['~ay-tmp.note']);
    });

    it('an already aborted signal rejects with its reason and writes nothing', async () => {
      const ws = fresh();
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      await expect(ws.write('aborted.txt', 'x', { signal })).rejects.toBe(reason);
      await expect(ws.read('aborted.txt', { signal })).rejects.toBe(reason);
      await expect(ws.list('', { signal })).rejects.toBe(reason);
      await expect(ws.stat('aborted.txt')).resolves.toBeUndefined();
    });

    it('ping resolves while the store answers', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

async function allPages(ws: Workspace, prefix: string, opts: ListOptions): Promise<WorkspaceEntry[][]> {
  const pages: WorkspaceEntry[][] = [];
  let cursor: string | undefined;
  do {
    const page = await ws.list(prefix, { ...opts, ...(cursor === undefined ? {} : { cursor }) });
    pages.push(page.entries);
    cursor = page.next_cursor;
    // A driver that never ends its cursor chain would otherwise loop until the test timeout.
    if (pages.length > 100) throw new Error(`listing ${prefix} did not end after 100 pages`);
  } while (cursor !== undefined);
  return pages;
}

async function removeAll(ws: Workspace): Promise<void> {
  const entries = (await allPages(ws, '', { limit: 10_000 })).flat();
  await inParallel(entries, 16, (e) => ws.delete(e.path));
}

/** Runs `fn` over `items` with at most `width` calls in flight. */
export async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}
