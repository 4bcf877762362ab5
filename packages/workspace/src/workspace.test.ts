import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { NotFoundError, UnavailableError, ValidationError } from '@agentyard/core';
import { createWorkspace, FsWorkspace, S3Workspace, type Workspace } from './index';
import { describeWorkspace } from './workspace-conformance';

const s3Endpoint = process.env.TEST_S3_ENDPOINT as string;
const s3Bucket = process.env.TEST_S3_BUCKET as string;
const s3rverCreds = { region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
// Port 9 (discard) on loopback: nothing listens, so any request fails at once.
const unreachable = 'http://127.0.0.1:9';
const badPaths = ['../x', 'a/../../x', '/etc/passwd', 'a\\b', 'nul\u0000byte'];

const tmpRoot = mkdtempSync(join(tmpdir(), 'ay-workspace-test-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

describeWorkspace('FsWorkspace', () => new FsWorkspace({ dir: join(tmpRoot, 'conformance') }));

describeWorkspace(
  'S3Workspace on s3rver',
  () => new S3Workspace({ bucket: s3Bucket, endpoint: s3Endpoint, forcePathStyle: true, ...s3rverCreds }),
);

/** Every operation with `path`, each expected to reject with ValidationError. */
async function expectRejectedEverywhere(ws: Workspace, path: string): Promise<void> {
  await expect(ws.write(path, 'x')).rejects.toBeInstanceOf(ValidationError);
  await expect(ws.read(path)).rejects.toBeInstanceOf(ValidationError);
  await expect(ws.stat(path)).rejects.toBeInstanceOf(ValidationError);
  await expect(ws.delete(path)).rejects.toBeInstanceOf(ValidationError);
  await expect(ws.list(path)).rejects.toBeInstanceOf(ValidationError);
}

describe('S3Workspace', () => {
  it('rejects ../x with ValidationError without sending any request, even to an unreachable endpoint', async () => {
    // A real client whose sends are counted, so "no request" is observed rather than inferred.
    let sent = 0;
    const client = new S3Client({ endpoint: unreachable, forcePathStyle: true, maxAttempts: 1, ...cred() });
    client.middlewareStack.add(
      (next) => async (args) => {
        sent += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countSends' },
    );
    const counted = new S3Workspace({ bucket: 'b', client, ...s3rverCreds });
    for (const p of badPaths) await expectRejectedEverywhere(counted, p);
    expect(sent).toBe(0);

    // The control: the same client does try the network, and fails as unavailable.
    await expect(counted.ping()).rejects.toBeInstanceOf(UnavailableError);
    expect(sent).toBe(1);

    const configured = new S3Workspace({ bucket: 'b', endpoint: unreachable, forcePathStyle: true, ...s3rverCreds });
    for (const p of badPaths) await expectRejectedEverywhere(configured, p);
  });

  it('maps a refused connection to a retryable UnavailableError on reads and writes', async () => {
    const client = new S3Client({ endpoint: unreachable, forcePathStyle: true, maxAttempts: 1, ...cred() });
    const ws = new S3Workspace({ bucket: 'b', client, ...s3rverCreds });
    const err = await ws.read('a.txt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).retryable).toBe(true);
    await expect(ws.write('a.txt', 'x')).rejects.toBeInstanceOf(UnavailableError);
    await expect(ws.list('')).rejects.toBeInstanceOf(UnavailableError);
  });

  it('ping rejects with UnavailableError naming the bucket when the bucket does not exist', async () => {
    const ws = new S3Workspace({ bucket: 'no-such-bucket', endpoint: s3Endpoint, forcePathStyle: true, ...s3rverCreds });
    await expect(ws.ping()).rejects.toThrow(/no-such-bucket/);
    await expect(ws.ping()).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('FsWorkspace', () => {
  function freshDir(): { base: string; dir: string } {
    const base = mkdtempSync(join(tmpRoot, 'fs-'));
    return { base, dir: join(base, 'ws') };
  }

  it('rejects ../x and other bad paths before any I/O: not even its directory is created', async () => {
    const { base, dir } = freshDir();
    const ws = new FsWorkspace({ dir });
    for (const p of badPaths) await expectRejectedEverywhere(ws, p);
    expect(readdirSync(base)).toEqual([]);
  });

  it('never lists temp files, including one a crash left behind', async () => {
    const { dir } = freshDir();
    const ws = new FsWorkspace({ dir });
    await ws.write('kept.txt', 'x');
    writeFileSync(join(dir, '.~ay-tmp.0123456789abcdef'), 'half a file');
    expect((await ws.list('')).entries.map((e) => e.path)).toEqual(['kept.txt']);
  });

  it('does not follow symbolic links out of its directory', async () => {
    const { base, dir } = freshDir();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    const ws = new FsWorkspace({ dir });
    await ws.write('real.txt', 'x');
    symlinkSync(outside, join(dir, 'linked-dir'));
    symlinkSync(join(outside, 'secret.txt'), join(dir, 'linked-file'));

    await expect(ws.read('linked-dir/secret.txt')).rejects.toBeInstanceOf(NotFoundError);
    await expect(ws.read('linked-file')).rejects.toBeInstanceOf(NotFoundError);
    await expect(ws.stat('linked-file')).resolves.toBeUndefined();
    await expect(ws.delete('linked-dir/secret.txt')).resolves.toBe(false);
    await expect(ws.write('linked-dir/planted.txt', 'x')).rejects.toBeInstanceOf(ValidationError);
    await expect(ws.write('linked-dir/deeper/planted.txt', 'x')).rejects.toBeInstanceOf(ValidationError);
    expect((await ws.list('')).entries.map((e) => e.path)).toEqual(['real.txt']);
    await expect(ws.list('linked-dir')).resolves.toEqual({ entries: [] });
    expect(readdirSync(outside)).toEqual(['secret.txt']);
    expect(existsSync(join(outside, 'secret.txt'))).toBe(true);
  });

  it('a reader racing rapid overwrites always sees one whole version, never a mix', async () => {
    const { dir } = freshDir();
    const ws = new FsWorkspace({ dir });
    const size = 1024 * 1024;
    const versions = [Buffer.alloc(size, 'a'), Buffer.alloc(size, 'b')];
    await ws.write('big.bin', versions[0] as Buffer);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 40; i++) await ws.write('big.bin', versions[i % 2] as Buffer);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const got = await ws.read('big.bin');
      expect(got.length).toBe(size);
      expect(got.equals(versions[0] as Buffer) || got.equals(versions[1] as Buffer)).toBe(true);
      reads += 1;
    }
    await writer;
    expect(reads).toBeGreaterThan(0);
  });

  it('refuses to write a file where a directory already is, naming the path field', async () => {
    const { dir } = freshDir();
    const ws = new FsWorkspace({ dir });
    await ws.write('d/inner.txt', 'x');
    const err = await ws.write('d', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).details[0]?.path).toBe('path');
    await expect(ws.write('d/inner.txt/deeper', 'x')).rejects.toBeInstanceOf(ValidationError);
  });

  it('ping rejects with UnavailableError when its directory is a file', async () => {
    const { base } = freshDir();
    writeFileSync(join(base, 'not-a-dir'), 'x');
    await expect(new FsWorkspace({ dir: join(base, 'not-a-dir') }).ping()).rejects.toBeInstanceOf(UnavailableError);
  });

  it('says what failed without the absolute directory, since a step error reaches the tenant', async () => {
    const { base } = freshDir();
    writeFileSync(join(base, 'not-a-dir'), 'x');
    const err = await new FsWorkspace({ dir: join(base, 'not-a-dir', 'ws') }).write('a.txt', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/^filesystem workspace could not write a\.txt: .*ENOTDIR/);
    expect((err as Error).message).not.toContain(base);
  });
});

describe('createWorkspace', () => {
  it('builds the driver the config names', () => {
    expect(createWorkspace({ driver: 'fs', dir: join(tmpRoot, 'created') })).toBeInstanceOf(FsWorkspace);
    expect(
      createWorkspace({ driver: 's3', bucket: s3Bucket, endpoint: s3Endpoint, forcePathStyle: true, ...s3rverCreds }),
    ).toBeInstanceOf(S3Workspace);
  });
});

function cred(): { region: string; credentials: { accessKeyId: string; secretAccessKey: string } } {
  return { region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } };
}
