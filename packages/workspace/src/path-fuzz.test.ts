import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { NotFoundError, ValidationError } from '@agentyard/core';
import { FsWorkspace, S3Workspace, normalisePath, pathProblem, scopeWorkspace, type Workspace } from './index';

/**
 * The path normaliser fuzzed through both drivers: whatever path a tenant's run hands its
 * scoped workspace, a write lands inside that workspace's root or is refused with a
 * ValidationError; a read never returns a byte from outside it (a sibling workspace, or, on
 * the filesystem, whatever a planted symbolic link points at).
 */

const OUTSIDE_SECRET = `outside-${randomUUID()}`;
const SIBLING_SECRET = `sibling-${randomUUID()}`;

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~ -]{1,8}$/) },
  { weight: 3, arbitrary: fc.constantFrom('..', '.', '', '...', '%2e%2e', '..\\', '\\..', '~', '.~ay-tmp.0123456789abcdef', 'link', 'linkfile', 'w2', 'workspaces', 'tenants') },
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.constantFrom('\u0000', '\n', '\u202e', '\ud800', 'x'.repeat(256)),
);
const path = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constant('') }, fc.constantFrom('/', './', '../', '//', '\\')),
    fc.array(segment, { minLength: 1, maxLength: 6 }),
    fc.oneof({ weight: 6, arbitrary: fc.constant('/') }, fc.constantFrom('//', '\\', '/./')),
  )
  .map(([lead, segs, sepr]) => lead + segs.join(sepr));

function fuzzDriver(name: string, setup: () => Promise<{ store: Workspace; base: string; afterwards(): Promise<void> }>) {
  describe(`${name}: fuzzed paths stay inside the workspace`, () => {
    let store: Workspace;
    let base: string;
    let afterwards: () => Promise<void>;
    beforeAll(async () => {
      ({ store, base, afterwards } = await setup());
      await store.write(`${base}/tenants/acme/workspaces/w2/secret.txt`, SIBLING_SECRET);
    });

    it('writes land under the root or are refused; reads never return outside bytes', async () => {
      const root = `${base}/tenants/acme/workspaces/w`;
      const ws = scopeWorkspace(store, root);
      let written = 0;
      await fc.assert(
        fc.asyncProperty(path, async (p) => {
          const problem = pathProblem(p);
          const content = `content of ${JSON.stringify(p)}`;
          const w = await ws.write(p, content).then(
            () => 'ok' as const,
            (e: unknown) => e,
          );
          if (problem !== undefined) {
            expect(w).toBeInstanceOf(ValidationError);
            await expect(ws.read(p)).rejects.toBeInstanceOf(ValidationError);
            return;
          }
          const key = normalisePath(p);
          expect(key.split('/')).not.toContain('..');
          if (w !== 'ok') {
            // The fs driver refuses a link, or a file or directory in the way; nothing else.
            expect(w).toBeInstanceOf(ValidationError);
            const r = await ws.read(p).then((b) => b.toString(), (e: unknown) => e);
            expect(r === OUTSIDE_SECRET || r === SIBLING_SECRET).toBe(false);
            return;
          }
          written++;
          // It is where the root says, and reads back through the scope.
          expect((await store.read(`${root}/${key}`)).toString()).toBe(content);
          expect((await ws.read(p)).toString()).toBe(content);
        }),
        { numRuns: name.startsWith('Fs') ? 3000 : 1000, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: false },
      );
      expect(written).toBeGreaterThan(100);
      // The sibling's file is untouched and never reachable from the scope.
      expect((await store.read(`${base}/tenants/acme/workspaces/w2/secret.txt`)).toString()).toBe(SIBLING_SECRET);
      for (const p of ['../w2/secret.txt', 'w2/secret.txt', '../../workspaces/w2/secret.txt']) {
        const r = await ws.read(p).then((b) => b.toString(), (e: unknown) => e);
        expect(r instanceof ValidationError || r instanceof NotFoundError).toBe(true);
      }
      // Every key in the store under this test's base is the root's or the sibling's one file.
      const all = await listAll(store, base);
      expect(all.filter((k) => !k.startsWith(`${root}/`) && k !== `${base}/tenants/acme/workspaces/w2/secret.txt`)).toEqual([]);
      await afterwards();
    }, 60_000);
  });
}

async function listAll(store: Workspace, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { limit: 10_000, ...(cursor ? { cursor } : {}) });
    out.push(...page.entries.map((e) => e.path));
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** Every regular file under `dir`, relative, following no links. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const r = rel ? `${rel}/${d.name}` : d.name;
    return d.isDirectory() ? walk(dir, r) : d.isFile() ? [r] : [];
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'ay-path-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

fuzzDriver('FsWorkspace, with symbolic links planted inside the root', async () => {
  const dir = join(tmp, 'store');
  const outside = join(tmp, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), OUTSIDE_SECRET);
  const base = 'fuzz';
  const rootDir = join(dir, base, 'tenants', 'acme', 'workspaces', 'w');
  mkdirSync(rootDir, { recursive: true });
  // A shell tool could plant these: a linked directory and a linked file, both pointing out.
  symlinkSync(outside, join(rootDir, 'link'));
  symlinkSync(join(outside, 'secret.txt'), join(rootDir, 'linkfile'));
  symlinkSync(join(dir, base, 'tenants', 'acme', 'workspaces', 'w2'), join(rootDir, 'w2'));
  return {
    store: new FsWorkspace({ dir }),
    base,
    async afterwards() {
      // Nothing was written through a link: the outside directory holds only its secret.
      expect(walk(outside)).toEqual(['secret.txt']);
      expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe(OUTSIDE_SECRET);
      // And every file the driver made is inside the store's directory.
      for (const f of walk(dir)) expect(resolve(dir, f).startsWith(`${resolve(dir)}${sep}`)).toBe(true);
      expect(walk(join(dir, base)).filter((f) => !f.startsWith(`${relative(join(dir, base), rootDir)}/`) && f !== 'tenants/acme/workspaces/w2/secret.txt')).toEqual([]);
    },
  };
});

fuzzDriver('S3Workspace on s3rver', async () => ({
  store: new S3Workspace({
    bucket: process.env.TEST_S3_BUCKET as string,
    endpoint: process.env.TEST_S3_ENDPOINT as string,
    forcePathStyle: true,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  }),
  base: `fuzz/${randomUUID()}`,
  async afterwards() {
    // Nothing to remove by hand: s3rver keeps its bucket in a directory the harness deletes at teardown.
  },
}));
