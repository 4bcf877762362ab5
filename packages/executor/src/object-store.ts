import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '@agentyard/workspace';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/**
 * The few object operations the Kubernetes executor needs on the workspace's bucket, apart from
 * the Workspace interface (which validates paths and speaks workspace-relative names): the
 * transfer objects of one execution live under `tenants/<t>/exec/<job>/`, beside the tenant's
 * workspaces, never inside one, and are deleted when the execution ends.
 *
 * Presigned URLs carry a signature, never the secret key, and expire: a pod holding one can
 * read one object or write one object until then, nothing else.
 */
export interface ObjectStore {
  /** Uploads a local file. */
  putFile(key: string, file: string): Promise<void>;
  put(key: string, body: Buffer | string): Promise<void>;
  /** The object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Streams the object into a local file; false when it does not exist. */
  getFile(key: string, file: string): Promise<boolean>;
  presignGet(key: string, expiresInS: number): Promise<string>;
  presignPut(key: string, expiresInS: number): Promise<string>;
  /** Idempotent: deleting a missing key is no error. */
  delete(key: string): Promise<void>;
}

export interface S3ObjectStoreOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

export function createS3ObjectStore(opts: S3ObjectStoreOptions): ObjectStore {
  // Transfers can be large: a longer inactivity timeout than the workspace's file calls.
  const client = createS3Client({ ...opts, requestTimeoutMs: 60_000 });
  const Bucket = opts.bucket;
  return {
    async putFile(key, file) {
      const { size } = await stat(file);
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: createReadStream(file), ContentLength: size }));
    },
    async put(key, body) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
    },
    async get(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        if (!res.Body) return Buffer.alloc(0);
        const bytes = await res.Body.transformToByteArray();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (e) {
        if (missing(e)) return undefined;
        throw e;
      }
    },
    async getFile(key, file) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        await pipeline((res.Body as Readable | undefined) ?? Readable.from([]), createWriteStream(file));
        return true;
      } catch (e) {
        if (missing(e)) return false;
        throw e;
      }
    },
    presignGet(key, expiresInS) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn: expiresInS });
    },
    presignPut(key, expiresInS) {
      return getSignedUrl(client, new PutObjectCommand({ Bucket, Key: key }), { expiresIn: expiresInS });
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
    },
  };
}

function missing(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404;
}
