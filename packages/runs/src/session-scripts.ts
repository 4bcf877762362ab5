/**
 * The session store's atomic operations, one Lua script per transition. Each checks the
 * state it starts from and writes the new one in the same step, so two API processes (or
 * an API and the sweeper) can never both win a transition. Session keys are the tenant's
 * own (session-keys.ts): a script only ever sees the sessions of the tenant that named them.
 *
 * Every script returns a table whose first element is one of SESSION_CODES.
 */
export const SESSION_CODES = {
  ok: 'ok',
  /** No such session or invocation (never created, expired, or another tenant's). */
  missing: 'missing',
  /** Not in a state the operation starts from; second element: the current status. */
  invalid: 'invalid',
  /** create: the tenant uses this session id already. reserve: the correlation id is taken; second element: its invocation. */
  exists: 'exists',
  /** begin: an earlier worker already started this invocation (and died): never run it twice. */
  started: 'started',
  /** expire: the session is not due yet. */
  notDue: 'not_due',
  /** create, reserve: a limit refused; second element: which, third: milliseconds until it frees up (or -1). */
  limited: 'limited',
} as const;
export type SessionCode = (typeof SESSION_CODES)[keyof typeof SESSION_CODES];

const codesLua = `local C = {${Object.entries(SESSION_CODES)
  .map(([k, v]) => `${k} = '${v}'`)
  .join(', ')}}`;
const script = (body: string) => `${codesLua}\n${body}`;

/**
 * close and expire end a session the same way, with the same KEYS (1 session hash, 2 expiring
 * zset, 3 tenant's open sessions) and ARGV (1 session id, 3 now ISO, 4 record TTL s,
 * 5 its member of the expiring zset).
 */
const endSessionLua = `local function endSession(status)
  redis.call('HSET', KEYS[1], 'status', status, 'closed_at', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {C.ok}
end`;

/**
 * createSession
 * KEYS  1 session hash, 2 expiring zset, 3 the tenant's open sessions zset
 * ARGV  1 session id, 2 tenant, 3 doc JSON, 4 now ISO, 5 expires_at ms, 6 expires_at ISO,
 *       7 key TTL s (session lifetime + record TTL), 8 now ms, 9 max open sessions (0: no limit),
 *       10 its member of the expiring zset (`<tenant> <session id>`)
 * Returns {ok} | {exists} | {limited, 'max_open_sessions', ms until the soonest expiry}. An id
 * the tenant holds already is refused: never an overwrite. Another tenant's session of the same
 * id is another key, so it neither refuses nor shows. Sessions past their expiry do not count
 * as open even before the sweeper reached them.
 */
export const CREATE_SESSION_LUA = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {C.exists} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8])
local max = tonumber(ARGV[9])
if max > 0 and redis.call('ZCARD', KEYS[3]) >= max then
  local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {C.limited, 'max_open_sessions', tostring(tonumber(soonest[2]) - tonumber(ARGV[8]))}
end
redis.call('HSET', KEYS[1], 'tenant', ARGV[2], 'status', 'open', 'doc', ARGV[3], 'created_at', ARGV[4],
  'expires_at_ms', ARGV[5], 'expires_at', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[10])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
-- Bounded: the set lives as long as its longest-lived member could.
if redis.call('TTL', KEYS[3]) < tonumber(ARGV[7]) then redis.call('EXPIRE', KEYS[3], ARGV[7]) end
return {C.ok}
`);

/**
 * closeSession: open -> closed.
 * KEYS  1 session hash, 2 expiring zset, 3 the tenant's open sessions zset
 * ARGV  1 session id, 2 tenant, 3 now ISO, 4 record TTL s, 5 its member of the expiring zset
 * Returns {ok} | {missing} | {invalid, status}.
 */
export const CLOSE_SESSION_LUA = script(`${endSessionLua}
local tenant, status = unpack(redis.call('HMGET', KEYS[1], 'tenant', 'status'))
if not tenant or tenant ~= ARGV[2] then return {C.missing} end
if status ~= 'open' then return {C.invalid, status} end
return endSession('closed')
`);

/**
 * expireSession: open -> expired, once its expiry has passed (the sweeper's transition).
 * KEYS  1 session hash, 2 expiring zset, 3 its tenant's open sessions zset
 * ARGV  1 session id, 2 now ms, 3 now ISO, 4 record TTL s, 5 its member of the expiring zset
 * Returns {ok} | {missing} | {invalid, status} | {not_due}. A missing or no longer open
 * session leaves the work list too.
 */
export const EXPIRE_SESSION_LUA = script(`${endSessionLua}
local status, at = unpack(redis.call('HMGET', KEYS[1], 'status', 'expires_at_ms'))
if not status then redis.call('ZREM', KEYS[2], ARGV[5]) return {C.missing} end
if status ~= 'open' then redis.call('ZREM', KEYS[2], ARGV[5]) return {C.invalid, status} end
if tonumber(at) > tonumber(ARGV[2]) then return {C.notDue} end
return endSession('expired')
`);

/**
 * reserveInvocation: the correlation id (if any) and the invocation record, before anything
 * executes; the one place that decides which request runs the tool, and the session's rate
 * and concurrency limits in the same step (a request that returns an existing invocation
 * counts against neither).
 * KEYS  1 session hash, 2 correlation key (unused when ARGV 7 is '0'), 3 invocation hash,
 *       4 session running set, 5 session rate counter, 6 running invocations zset
 * ARGV  1 invocation id, 2 tenant, 3 doc JSON, 4 now ISO, 5 now ms, 6 record TTL s,
 *       7 has correlation id ('1'|'0'), 8 invocations per minute (0: no limit),
 *       9 invocations running at once (0: no limit), 10 session id (the record names it)
 * Returns {ok} | {missing} | {invalid, status} | {exists, invocation id} |
 *         {limited, 'concurrency' | 'rate', ms until it frees up (-1: when one finishes)}.
 */
export const RESERVE_INVOCATION_LUA = script(`
local tenant, status, at = unpack(redis.call('HMGET', KEYS[1], 'tenant', 'status', 'expires_at_ms'))
if not tenant or tenant ~= ARGV[2] then return {C.missing} end
if ARGV[7] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {C.exists, existing} end
end
if status ~= 'open' then return {C.invalid, status} end
if tonumber(at) <= tonumber(ARGV[5]) then return {C.invalid, 'expired'} end
local maxRunning, perMinute = tonumber(ARGV[9]), tonumber(ARGV[8])
if maxRunning > 0 and redis.call('SCARD', KEYS[4]) >= maxRunning then return {C.limited, 'concurrency', '-1'} end
if perMinute > 0 then
  local used = tonumber(redis.call('GET', KEYS[5]) or '0')
  if used >= perMinute then return {C.limited, 'rate', tostring(redis.call('PTTL', KEYS[5]))} end
  -- A fixed window opened by its first invocation.
  if used == 0 then redis.call('SET', KEYS[5], 1, 'PX', 60000) else redis.call('INCR', KEYS[5]) end
end
if ARGV[7] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[6]) end
redis.call('HSET', KEYS[3], 'tenant', ARGV[2], 'session_id', ARGV[10], 'status', 'running', 'doc', ARGV[3], 'created_at', ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[6])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
return {C.ok}
`);

/**
 * recordDenied: a new invocation record that ends denied at once (policy, approval or a
 * limit refused it). It reserves no correlation id: a denied invocation is returned for its
 * own id only, and the same correlation id may run once the cause is fixed.
 * KEYS  1 invocation hash
 * ARGV  1 tenant, 2 session id, 3 doc JSON, 4 now ISO, 5 result JSON, 6 record TTL s
 * Returns {ok} | {exists} (ids are random: never in practice, but never an overwrite).
 */
export const RECORD_DENIED_LUA = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {C.exists} end
redis.call('HSET', KEYS[1], 'tenant', ARGV[1], 'session_id', ARGV[2], 'status', 'denied', 'doc', ARGV[3],
  'created_at', ARGV[4], 'completed_at', ARGV[4], 'result', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {C.ok}
`);

/**
 * beginInvocation: a worker is about to run the tool. Only the first begin wins, so a job
 * BullMQ hands out again after its worker died never runs the tool a second time.
 * KEYS  1 invocation hash
 * ARGV  1 now ISO
 * Returns {ok} | {missing} | {invalid, status} | {started}.
 */
export const BEGIN_INVOCATION_LUA = script(`
local status, started = unpack(redis.call('HMGET', KEYS[1], 'status', 'started_at'))
if not status then return {C.missing} end
if status ~= 'running' then return {C.invalid, status} end
if started then return {C.started} end
redis.call('HSET', KEYS[1], 'started_at', ARGV[1])
return {C.ok}
`);

/**
 * finishInvocation: running -> succeeded | failed. Frees its slot of the session's
 * concurrency and leaves the reconciler's work list; a failed invocation also gives its
 * correlation id back (returned for its own id only: the client may try again).
 * KEYS  1 invocation hash, 2 session running set, 3 running invocations zset,
 *       4 correlation key (the invocation hash itself when it has none)
 * ARGV  1 status, 2 result JSON {output, logs, artifacts, error, exit_code, duration_ms},
 *       3 now ISO, 4 record TTL s, 5 invocation id, 6 has correlation id ('1'|'0')
 * Returns {ok} | {missing} | {invalid, status}.
 */
export const FINISH_INVOCATION_LUA = script(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('SREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[3], ARGV[5])
  return {C.missing}
end
if status ~= 'running' then return {C.invalid, status} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'result', ARGV[2], 'completed_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SREM', KEYS[2], ARGV[5])
redis.call('ZREM', KEYS[3], ARGV[5])
if ARGV[1] == 'failed' and ARGV[6] == '1' and redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {C.ok}
`);

/**
 * archivePending: a record whose archive write failed (storage down) is kept in Redis, its
 * TTL removed, until a retry wrote it: its archive is what answers after the TTL.
 * KEYS  1 pending zset, 2 the record's hash
 * ARGV  1 member, 2 now ms
 * Returns {ok} | {missing} (the record is gone: nothing left to archive).
 */
export const ARCHIVE_PENDING_LUA = script(`
if redis.call('EXISTS', KEYS[2]) == 0 then return {C.missing} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PERSIST', KEYS[2])
return {C.ok}
`);

/**
 * archiveDone: the retry wrote the archive; the record gets its TTL back.
 * KEYS  1 pending zset, 2 the record's hash
 * ARGV  1 member, 2 TTL s to give back (only if it has none)
 * Returns {ok}.
 */
export const ARCHIVE_DONE_LUA = script(`
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {C.ok}
`);

export const SESSION_SCRIPTS = {
  ayCreateSession: { keys: 3, lua: CREATE_SESSION_LUA },
  ayCloseSession: { keys: 3, lua: CLOSE_SESSION_LUA },
  ayExpireSession: { keys: 3, lua: EXPIRE_SESSION_LUA },
  ayReserveInvocation: { keys: 6, lua: RESERVE_INVOCATION_LUA },
  ayRecordDenied: { keys: 1, lua: RECORD_DENIED_LUA },
  ayBeginInvocation: { keys: 1, lua: BEGIN_INVOCATION_LUA },
  ayFinishInvocation: { keys: 4, lua: FINISH_INVOCATION_LUA },
  ayArchivePending: { keys: 2, lua: ARCHIVE_PENDING_LUA },
  ayArchiveDone: { keys: 2, lua: ARCHIVE_DONE_LUA },
} as const;
export type SessionScriptName = keyof typeof SESSION_SCRIPTS;
