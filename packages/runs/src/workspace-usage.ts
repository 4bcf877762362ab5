import type Redis from 'ioredis';
import { runKeys } from './keys';

/**
 * Counts what a tenant's tools keep in its workspaces, for max_workspace_files and
 * max_workspace_bytes, whichever driver (fs, S3) holds the files: a hash of each counted file's
 * size by its store key, and the tenant's totals beside it. `reserve` runs before a write and
 * checks and counts it in one script, so concurrent writers (workers, sessions, replicas) can
 * never together pass a cap; an overwrite counts only its change in size.
 *
 * KEYS 1 usage hash {files, bytes}, 2 sizes hash (store key -> bytes)
 */

/**
 * reserve  ARGV 1 store key, 2 new size, 3 max files, 4 max bytes (0 = no cap)
 * Returns {'ok', previous size or -1} | {'files', files now} | {'bytes', bytes now}.
 * A write that does not grow the file or add one passes whatever the totals.
 */
const RESERVE_LUA = `
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
local size, max_files, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local files = tonumber(redis.call('HGET', KEYS[1], 'files') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
local grow = size - math.max(old, 0)
if old < 0 and max_files > 0 and files + 1 > max_files then return {'files', tostring(files)} end
if grow > 0 and max_bytes > 0 and bytes + grow > max_bytes then return {'bytes', tostring(bytes)} end
redis.call('HSET', KEYS[2], ARGV[1], size)
if old < 0 then redis.call('HINCRBY', KEYS[1], 'files', 1) end
if grow ~= 0 then redis.call('HINCRBY', KEYS[1], 'bytes', grow) end
return {'ok', tostring(old)}
`;

/**
 * set  ARGV 1 store key, 2 size, or -1 for "not there": puts a file's count back (a write that
 * failed after its reserve, a delete). Returns 1.
 */
const SET_LUA = `
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
local size = tonumber(ARGV[2])
if old == size then return 1 end
if size < 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'files', -1)
  redis.call('HINCRBY', KEYS[1], 'bytes', -old)
  return 1
end
redis.call('HSET', KEYS[2], ARGV[1], size)
if old < 0 then redis.call('HINCRBY', KEYS[1], 'files', 1) end
redis.call('HINCRBY', KEYS[1], 'bytes', size - math.max(old, 0))
return 1
`;

export type UsageReservation = { ok: true; previous: number } | { ok: false; cap: 'files' | 'bytes'; used: number };

export interface WorkspaceUsage {
  /** Checks and counts a write of `size` bytes to `key`; `previous` is -1 for a new file. */
  reserve(tenant: string, key: string, size: number, caps: { files: number; bytes: number }): Promise<UsageReservation>;
  /** Sets a file's counted size (-1: the file is gone). */
  set(tenant: string, key: string, size: number): Promise<void>;
  totals(tenant: string): Promise<{ files: number; bytes: number }>;
}

type Scripted = Redis & {
  ayWsReserve(...a: (string | number)[]): Promise<[string, string]>;
  ayWsSet(...a: (string | number)[]): Promise<number>;
};

const capArg = (n: number) => (Number.isFinite(n) ? n : 0);

export function createWorkspaceUsage(opts: { redis: Redis; prefix: string }): WorkspaceUsage {
  const k = runKeys(opts.prefix);
  const redis = opts.redis as Scripted;
  if (!('ayWsReserve' in opts.redis)) {
    redis.defineCommand('ayWsReserve', { numberOfKeys: 2, lua: RESERVE_LUA });
    redis.defineCommand('ayWsSet', { numberOfKeys: 2, lua: SET_LUA });
  }
  const keys = (tenant: string) => [k.tenantWorkspaceUsage(tenant), k.tenantWorkspaceFiles(tenant)] as const;
  return {
    async reserve(tenant, key, size, caps) {
      const [code, n] = await redis.ayWsReserve(...keys(tenant), key, size, capArg(caps.files), capArg(caps.bytes));
      return code === 'ok' ? { ok: true, previous: Number(n) } : { ok: false, cap: code as 'files' | 'bytes', used: Number(n) };
    },
    async set(tenant, key, size) {
      await redis.ayWsSet(...keys(tenant), key, size);
    },
    async totals(tenant) {
      const [files, bytes] = await opts.redis.hmget(k.tenantWorkspaceUsage(tenant), 'files', 'bytes');
      return { files: Number(files ?? 0), bytes: Number(bytes ?? 0) };
    },
  };
}
