import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  type ListObjectsCommandOutput,
} from '@aws-sdk/client-s3';
import { AgentyardError, NotFoundError, UnavailableError } from '@agentyard/core';
import { normaliseListPrefix, normalisePath } from './normalise-path';
import {
  resolveListLimit,
  storeRefused,
  toBuffer,
  type ListOptions,
  type ListPage,
  type Workspace,
  type WorkspaceEntry,
  type WriteOptions,
} from './workspace';

/**
 * The S3 driver, for AWS S3 and S3-compatible stores (MinIO, Exoscale SOS, s3rver). Keys are
 * the normalised paths as they are; a tenant's prefix is added by `scopeWorkspace`.
 * `delete` asks HeadObject first because DeleteObject answers 204 whether or not the key
 * existed; the answer can be stale if another writer races it, which callers tolerate.
 */

export interface S3WorkspaceOptions {
  bucket: string;
  /** Omit for AWS S3; set for MinIO, SOS, s3rver and other S3-compatible stores. */
  endpoint?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; most non-AWS stores need it. @default false */
  forcePathStyle?: boolean;
  /** A ready client (then the connection options above are ignored for requests). */
  client?: S3Client;
}

/**
 * The S3 client every Agentyard component talks to the store with (the workspace driver, the
 * Kubernetes executor's transfer objects), configured once for what S3-compatible stores need.
 */
export function createS3Client(opts: { region: string; endpoint?: string; forcePathStyle?: boolean; accessKeyId: string; secretAccessKey: string; requestTimeoutMs?: number }): S3Client {
  return new S3Client({
    region: opts.region,
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    forcePathStyle: opts.forcePathStyle ?? false,
    credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
    // Since 3.729 the SDK sends aws-chunked bodies with CRC32 trailers by default; stores
    // without the newer checksums (s3rver, older MinIO, SOS) then keep the chunk framing
    // as the file's content. Checksums only where an operation requires them avoids it (and
    // a presigned PUT from curl carries no checksum at all).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without these a store that accepts the connection and never answers hangs a step
    // (or /readyz) forever. requestTimeout is socket inactivity, so large bodies still flow.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? 30_000 },
  });
}

/** S3 never returns more keys than this per list call, whatever MaxKeys asks for. */
const S3_PAGE = 1000;

export class S3Workspace implements Workspace {
  private readonly bucket: string;
  private readonly client: S3Client;

  constructor(opts: S3WorkspaceOptions) {
    this.bucket = opts.bucket;
    this.client =
      opts.client ??
      createS3Client(opts);
  }

  async write(path: string, body: Buffer | string, opts: WriteOptions = {}): Promise<{ size: number }> {
    const key = normalisePath(path);
    const bytes = toBuffer(body);
    const { signal } = opts;
    signal?.throwIfAborted();
    await this.call('write', key, signal, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ...(opts.contentType === undefined ? {} : { ContentType: opts.contentType }),
        }),
        { abortSignal: signal },
      ),
    );
    return { size: bytes.length };
  }

  async read(path: string, opts: { signal?: AbortSignal } = {}): Promise<Buffer> {
    const key = normalisePath(path);
    const { signal } = opts;
    signal?.throwIfAborted();
    return this.call('read', key, signal, async () => {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      if (!res.Body) return Buffer.alloc(0);
      const bytes = await res.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    });
  }

  async stat(path: string): Promise<WorkspaceEntry | undefined> {
    const key = normalisePath(path);
    try {
      const res = await this.call('stat', key, undefined, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      return { path: key, size: res.ContentLength ?? 0, modified: isoTime(res.LastModified) };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async delete(path: string): Promise<boolean> {
    const key = normalisePath(path);
    if ((await this.stat(key)) === undefined) return false;
    await this.call('delete', key, undefined, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    return true;
  }

  /**
   * One page of `limit` entries, gathered from as many list calls as it takes, each starting
   * after the last key the previous one returned (S3 answers at most 1,000 keys per call).
   *
   * ListObjects (v1) with Marker rather than ListObjectsV2: the two page identically when
   * the marker is the last key seen, and every S3-compatible store serves v1, but s3rver
   * 3.7.1 mints v2 continuation tokens with DES, which OpenSSL 3 (Node 17+) refuses, so every
   * truncated v2 answer from it is a 500. v1 keeps the test store honest about paging.
   */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    const pre = normaliseListPrefix(prefix);
    const limit = resolveListLimit(opts.limit);
    const { signal } = opts;
    signal?.throwIfAborted();
    const keyPrefix = pre === '' ? '' : `${pre}/`;
    const entries: WorkspaceEntry[] = [];
    let marker = opts.cursor;
    for (;;) {
      const res: ListObjectsCommandOutput = await this.call('list', pre, signal, () =>
        this.client.send(
          new ListObjectsCommand({
            Bucket: this.bucket,
            Prefix: keyPrefix,
            MaxKeys: Math.min(S3_PAGE, limit - entries.length),
            ...(marker === undefined ? {} : { Marker: marker }),
          }),
          { abortSignal: signal },
        ),
      );
      const contents = res.Contents ?? [];
      for (const obj of contents) {
        if (obj.Key === undefined) continue;
        marker = obj.Key;
        // Zero-byte "folder" markers made by consoles and other tools are not files.
        if (obj.Key.endsWith('/')) continue;
        entries.push({ path: obj.Key, size: obj.Size ?? 0, modified: isoTime(obj.LastModified) });
      }
      if (res.IsTruncated !== true) return { entries };
      if (entries.length >= limit && marker !== undefined) return { entries, next_cursor: marker };
      // Truncated yet empty would repeat the same request forever.
      if (contents.length === 0) throw new UnavailableError(`S3 listed nothing for ${pre || '/'} yet said more follows`);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw new UnavailableError(`S3 bucket ${this.bucket} did not answer: ${explain(err)}`, err);
    }
  }

  /**
   * Runs one request and sorts its failure: missing key, store unreachable or overloaded
   * (retryable), or a refusal retrying will not fix. An abort rejects with the caller's reason.
   */
  private async call<T>(op: string, key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      signal?.throwIfAborted();
      if (err instanceof AgentyardError) throw err;
      const status = httpStatus(err);
      const name = err instanceof Error ? err.name : '';
      if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) {
        throw new NotFoundError('file', key);
      }
      const what = `S3 could not ${op} ${key || '/'} in bucket ${this.bucket}: ${explain(err)}`;
      if (status === undefined || status >= 500 || status === 429 || RETRYABLE_NAMES.has(name)) {
        throw new UnavailableError(what, err);
      }
      throw storeRefused(what, err);
    }
  }
}

// Throttling and clock-skew answers come as 4xx (or 503) but clear up on a later attempt.
const RETRYABLE_NAMES = new Set(['SlowDown', 'RequestTimeout', 'RequestTimeTooSkewed', 'TimeoutError', 'ThrottlingException']);

/** Undefined when no HTTP answer came back at all: refused connection, DNS, socket timeout. */
function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

function explain(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Some SDK errors for bodiless answers (HEAD) carry only a name, e.g. "NotFound" or "403".
  return err.message && err.message !== 'UnknownError' ? `${err.name}: ${err.message}` : err.name;
}

function isoTime(d: Date | undefined): string {
  return (d ?? new Date(0)).toISOString();
}
