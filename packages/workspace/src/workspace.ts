import { AgentyardError, ValidationError } from '@agentyard/core';

/**
 * The Workspace contract every driver meets (the conformance suite in
 * workspace-conformance.ts checks it against each one):
 *
 * - Paths are relative keys validated and normalised by `normalisePath` before any I/O; a bad
 *   path is a ValidationError and nothing is read, written or requested.
 * - `read` of a missing file is `NotFoundError('file', path)`; `stat` answers undefined.
 * - `list(prefix)` lists keys under `prefix/` (everything for `''`), sorted by the UTF-8 bytes
 *   of the path, as S3 orders keys. `next_cursor` is present only when more entries follow.
 * - A store that does not answer (network, timeout, 5xx) is `UnavailableError`, which the
 *   worker retries; a store that refuses (permissions, misconfiguration) is non-retryable.
 * - An aborted signal rejects with the signal's own reason, whichever driver is underneath.
 */

export interface WorkspaceEntry {
  path: string;
  size: number;
  /** ISO 8601 time of the last write. */
  modified: string;
}

export interface ListPage {
  entries: WorkspaceEntry[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  next_cursor?: string;
}

export interface WriteOptions {
  /** Stored as the object's Content-Type on S3; the filesystem driver has nowhere to keep it. */
  contentType?: string;
  signal?: AbortSignal;
}

export interface ListOptions {
  cursor?: string;
  /** @default 1000 (at most 10000) */
  limit?: number;
  signal?: AbortSignal;
}

export interface Workspace {
  write(path: string, body: Buffer | string, opts?: WriteOptions): Promise<{ size: number }>;
  read(path: string, opts?: { signal?: AbortSignal }): Promise<Buffer>;
  stat(path: string): Promise<WorkspaceEntry | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** True when the file existed. */
  delete(path: string): Promise<boolean>;
  /** Resolves when the store answers; UnavailableError otherwise. */
  ping(): Promise<void>;
}

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

export function resolveListLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw ValidationError.field('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

/**
 * Byte order of the UTF-8 encodings, which is S3's key order. Plain `<` on JS strings compares
 * UTF-16 units and disagrees for characters outside the Basic Multilingual Plane.
 */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function toBuffer(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/**
 * The store answered but refused, for a reason retrying will not fix (permissions, a missing
 * bucket, a read-only disk). Unknown errors count as retryable elsewhere, so this must be said.
 */
export function storeRefused(message: string, cause: unknown): AgentyardError {
  return new AgentyardError('workspace_error', message, { status: 500, retryable: false, cause });
}
