import { APPEND_EVENT_LUA } from '@agentyard/events';
import { LEASE_LUA, LEASE_SET_TTL_LEASES } from './tenant-slots';

/**
 * The run engine's atomic operations, one Lua script each. Every script changes run state,
 * the indexes that follow from it and the matching event in one step, so history never
 * disagrees with state and no index outlives what it points at.
 *
 * Calling convention, shared by every script below (see run-store.ts `call`):
 * KEYS  1 run hash, 2 steps hash, 3 event stream, 4 event seq, 5 approvals hash,
 *       6 transcript list, 7 event-archive cursor hash, 8 slot-wait marker
 * ARGV  1 key prefix, 2 run id, 3 ts (ISO), 4 now (ms), 5 live channel, 6 stream cap,
 *       7.. the operation's own arguments (listed in its header)
 * Keys that belong to the whole deployment or to the run's tenant (queued/running/DLQ/
 * expiring indexes, the tenant's run index and listing) are derived from the prefix and the
 * run's `tenant` field inside the script. Agentyard's scripts already span runs and indexes,
 * so Redis Cluster is not supported; a single primary (with replicas, Sentinel) is.
 *
 * Every script returns a table whose first element is one of RUN_CODES.
 */
export const RUN_CODES = {
  ok: 'ok',
  /** No such run (never created, or expired from Redis). */
  missing: 'missing',
  /** The run is in a status the operation does not start from; second element: the status. */
  invalid: 'invalid',
  /** The run was re-enqueued since the caller took it: its generation moved on. */
  stale: 'stale',
  /** Backpressure: second element `queue` or `tenant`, third the limit. */
  queueFull: 'queue_full',
  /** create: the idempotency key was used before; second element `<runId> <fingerprint>`. */
  exists: 'exists',
  /** decide: the run has no such step. */
  noStep: 'no_step',
  /** decide: the step is not waiting for a decision (decided already, or never asked). */
  decided: 'decided',
  /** Nothing to do (end already emitted, expiry not due, ...). */
  noop: 'noop',
  /** pickup: the run's tenant has no free slot (max_concurrent_runs, max_fleet_share). */
  noSlot: 'no_slot',
} as const;
export type RunCode = (typeof RUN_CODES)[keyof typeof RUN_CODES];

const codesLua = `local C = {${Object.entries(RUN_CODES)
  .map(([k, v]) => `${k} = '${v}'`)
  .join(', ')}}`;

/** Shared prelude: named keys and arguments, and the helpers that own status and indexes. */
const PRELUDE = `${APPEND_EVENT_LUA}
${LEASE_LUA}
${codesLua}
local RUN, STEPS, STREAM, SEQ, APPROVALS, TRANSCRIPT, ARCHIVE, SLOTWAIT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local PREFIX, RUN_ID, TS, NOW, CHANNEL, CAP = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local QUEUED, RUNNING, DLQ, EXPIRING = PREFIX .. 'queued', PREFIX .. 'running', PREFIX .. 'dlq', PREFIX .. 'expiring'
local function tenant_key(tenant, what) return PREFIX .. 'tenant:' .. tenant .. ':' .. what end
local function event(etype, payload) return ay_append(STREAM, SEQ, CHANNEL, CAP, TS, etype, payload) end
local function is_in(s, list)
  for x in string.gmatch(list, '%S+') do if x == s then return true end end
  return false
end
-- The payload JSON object with the actor (a JSON object, '' = none) added as its 'by' field.
local function with_by(payload, actor)
  if actor == nil or actor == '' then return payload end
  if payload == '{}' then return '{"by":' .. actor .. '}' end
  return string.sub(payload, 1, -2) .. ',"by":' .. actor .. '}'
end
local function terminal(s) return s == 'succeeded' or s == 'dead_lettered' or s == 'cancelled' end
-- Per-run keys: retention expires them together, a retry keeps them together.
local function run_keys() return {RUN, STEPS, STREAM, SEQ, APPROVALS, TRANSCRIPT, ARCHIVE, SLOTWAIT} end
-- The run's tenant, read once per script (guard reads it with the status).
local known_tenant = nil
local function run_tenant()
  if not known_tenant then known_tenant = redis.call('HGET', RUN, 'tenant') end
  return known_tenant
end
-- The status, or a refusal: {C.missing} or {C.invalid, current} or {C.stale, current}.
-- One HMGET for status, generation and tenant: a run's transition reads all three.
local function guard(allowed, gen)
  local f = redis.call('HMGET', RUN, 'status', 'gen', 'tenant')
  local status = f[1]
  if not status then return nil, {C.missing, ''} end
  if f[3] then known_tenant = f[3] end
  if not is_in(status, allowed) then return nil, {C.invalid, status} end
  if gen ~= nil and gen ~= '' and f[2] ~= gen then return nil, {C.stale, status} end
  return status, nil
end
-- Backpressure: a run about to be queued must fit the deployment's and its tenant's limits
-- (0 = unlimited). Returns a refusal or nil.
local function room(tenant, max_all, max_tenant)
  if tonumber(max_all) > 0 and redis.call('ZCARD', QUEUED) >= tonumber(max_all) then return {C.queueFull, 'queue', max_all} end
  if tonumber(max_tenant) > 0 and redis.call('ZCARD', tenant_key(tenant, 'queued')) >= tonumber(max_tenant) then
    return {C.queueFull, 'tenant', max_tenant}
  end
  return nil
end
-- Moves the run to status 'to': stamps, index membership by status (queued, running, DLQ,
-- and the tenant's own queued, running and DLQ indexes) and the status event. 'extra' is a JSON object whose fields
-- join the event ('{}' for none).
local function go(from, to, extra)
  local tenant = run_tenant()
  redis.call('HSET', RUN, 'status', to, 'updated_at', TS)
  if to == 'queued' then
    redis.call('HSET', RUN, 'queued_at', TS)
    redis.call('ZADD', QUEUED, NOW, RUN_ID)
    redis.call('ZADD', tenant_key(tenant, 'queued'), NOW, RUN_ID)
  else
    redis.call('ZREM', QUEUED, RUN_ID)
    redis.call('ZREM', tenant_key(tenant, 'queued'), RUN_ID)
  end
  -- The tenant's running and DLQ indexes mirror the deployment's: a tenant's queue stats read
  -- its own counts with a ZCARD each instead of scanning everyone's runs.
  if to == 'running' then
    redis.call('HSETNX', RUN, 'started_at', TS)
    redis.call('ZADD', RUNNING, NOW, RUN_ID)
    redis.call('ZADD', tenant_key(tenant, 'running'), NOW, RUN_ID)
  else
    redis.call('ZREM', RUNNING, RUN_ID)
    redis.call('ZREM', tenant_key(tenant, 'running'), RUN_ID)
  end
  if to == 'dead_lettered' then
    redis.call('ZADD', DLQ, NOW, RUN_ID)
    redis.call('ZADD', tenant_key(tenant, 'dlq'), NOW, RUN_ID)
  else
    redis.call('ZREM', DLQ, RUN_ID)
    redis.call('ZREM', tenant_key(tenant, 'dlq'), RUN_ID)
  end
  if terminal(to) then redis.call('HSET', RUN, 'finished_at', TS) end
  local payload = '{"status":"' .. to .. '","previous":' .. (from and ('"' .. from .. '"') or 'null')
  if extra ~= nil and extra ~= '{}' then payload = payload .. ',' .. string.sub(extra, 2) else payload = payload .. '}' end
  return event('status', payload)
end
-- The run as the store decodes it (run hash, steps, approvals), for scripts that hand the
-- caller the state they just wrote instead of making it read it back.
local function snapshot() return redis.call('HGETALL', RUN), redis.call('HGETALL', STEPS), redis.call('HGETALL', APPROVALS) end
`;

const script = (body: string) => `${PRELUDE}\n${body}`;

/**
 * create
 * ARGV  7 tenant, 8 doc JSON, 9 step states JSON array [id, state, ...], 10 idempotency key
 *       ('' = none), 11 request fingerprint, 12 idempotency TTL s, 13 start at once ('1'|'0'),
 *       14 queue limit, 15 tenant queue limit
 * Returns {ok} | {exists, '<runId> <fingerprint>'} | {queue_full, which, limit}.
 * Nothing is written when it refuses, the idempotency key included.
 */
export const CREATE_LUA = script(`
local tenant, idem = ARGV[7], ARGV[10]
if idem ~= '' then
  local existing = redis.call('GET', idem)
  if existing then return {C.exists, existing} end
end
if ARGV[13] == '1' then
  local full = room(tenant, ARGV[14], ARGV[15])
  if full then return full end
end
if idem ~= '' then redis.call('SET', idem, RUN_ID .. ' ' .. ARGV[11], 'EX', ARGV[12]) end
-- A run started at once is written queued at generation 1 in one HSET, with both status
-- events: what go('created', 'queued') leaves, without its removals from the running and DLQ
-- indexes, which a run id never seen before cannot be in (a dozen calls fewer per create+start).
local start = ARGV[13] == '1'
redis.call('HSET', RUN, 'doc', ARGV[8], 'tenant', tenant, 'status', start and 'queued' or 'created', 'gen', start and 1 or 0, 'attempts', 0, 'updated_at', TS)
if idem ~= '' then redis.call('HSET', RUN, 'idem', idem) end
local steps = cjson.decode(ARGV[9])
for i = 1, #steps, 2 do redis.call('HSET', STEPS, steps[i], steps[i + 1]) end
redis.call('ZADD', tenant_key(tenant, 'runs'), 0, RUN_ID)
event('status', '{"status":"created","previous":null}')
if start then
  redis.call('HSET', RUN, 'queued_at', TS)
  redis.call('ZADD', QUEUED, NOW, RUN_ID)
  redis.call('ZADD', tenant_key(tenant, 'queued'), NOW, RUN_ID)
  event('status', '{"status":"queued","previous":"created"}')
end
return {C.ok}
`);

/**
 * start: created -> queued, generation + 1.
 * ARGV  7 queue limit, 8 tenant queue limit (0 = unlimited), 9 the caller's tenant ('' = any):
 *       another tenant's run is {missing}, whatever its status, as if it did not exist
 * Returns {ok, gen} | {missing} | {invalid, status} | {queue_full, which, limit}.
 */
export const START_LUA = script(`
local status, refused = guard('created')
if ARGV[9] ~= '' and run_tenant() ~= ARGV[9] then return {C.missing, ''} end
if refused then return refused end
local full = room(run_tenant(), ARGV[7], ARGV[8])
if full then return full end
local gen = redis.call('HINCRBY', RUN, 'gen', 1)
go(status, 'queued', '{}')
return {C.ok, tostring(gen)}
`);

/**
 * read: the run (run hash, steps, approvals) as one consistent snapshot, without a MULTI.
 * Returns {ok, run hash, steps hash, approvals hash} (flat field/value arrays; empty when the
 * run does not exist).
 */
export const READ_LUA = script(`
local run, steps, approvals = snapshot()
return {C.ok, run, steps, approvals}
`);

/**
 * pickup: a worker starts executing the run (first time, after backoff, or taking over from
 * a worker that died: hence 'running' is allowed). Counts an attempt and clears the last error.
 * With a slot limit it first takes the run's slot among its tenant's (a lease, see
 * tenant-slots.ts), so a refused run takes none and a run without a free slot is not picked up.
 * Hands back the run as it now is, so the worker needs no read of its own.
 * ARGV  7 generation of the job, 8 the tenant's slot limit ('' = none), 9 slot lease ms
 * Returns {ok, previous, attempts, run hash, steps hash, approvals hash} | {missing} |
 * {invalid, status} | {stale, status} | {no_slot, status} (nothing written).
 */
export const PICKUP_LUA = script(`
local status, refused = guard('queued failed running', ARGV[7])
if refused then return refused end
if ARGV[8] ~= nil and ARGV[8] ~= '' then
  local lease = tonumber(ARGV[9])
  if ay_lease(tenant_key(run_tenant(), 'slots'), RUN_ID, ARGV[8], NOW, tonumber(NOW) + lease, lease * ${LEASE_SET_TTL_LEASES}) == 0 then
    return {C.noSlot, status}
  end
end
local attempts = redis.call('HINCRBY', RUN, 'attempts', 1)
redis.call('HDEL', RUN, 'error')
go(status, 'running', '{}')
local run, steps, approvals = snapshot()
return {C.ok, status, tostring(attempts), run, steps, approvals}
`);

/**
 * finish: the worker's outcome of one attempt.
 * ARGV  7 generation, 8 outcome: succeed | fail | dead_letter, 9 result JSON or '',
 *       10 error JSON or '', 11 step id ('' = none), 12 its state JSON, 13 its event JSON,
 *       14 '1': give the run's slot back first, whatever the outcome (the attempt is over)
 * With a step, its checkpoint comes first, as `checkpoint` would write it (refused only for
 * an older generation; kept when the status refuses the finish, as when the run was
 * cancelled meanwhile): the last step of a plan and the run's success are one round trip.
 * succeed and fail start from running; dead_letter also from queued and failed (a job
 * BullMQ gave up on). Returns {ok, previous, run hash, steps hash, approvals hash, events
 * not yet archived} (the run as it now is, for the finalizer) | {missing} | {invalid, status} |
 * {stale, status}.
 */
export const FINISH_LUA = script(`
local outcome = ARGV[8]
if ARGV[14] == '1' then
  local tenant = run_tenant()
  if tenant then redis.call('ZREM', tenant_key(tenant, 'slots'), RUN_ID) end
end
local to, from = 'succeeded', 'running'
if outcome == 'fail' then to = 'failed' elseif outcome == 'dead_letter' then to, from = 'dead_lettered', 'queued running failed' end
if ARGV[11] ~= nil and ARGV[11] ~= '' then
  local f = redis.call('HMGET', RUN, 'status', 'gen')
  if not f[1] then return {C.missing, ''} end
  if f[2] ~= ARGV[7] then return {C.stale, f[1]} end
  redis.call('HSET', STEPS, ARGV[11], ARGV[12])
  event('step', ARGV[13])
end
local status, refused = guard(from, ARGV[7])
if refused then return refused end
if ARGV[9] ~= '' then redis.call('HSET', RUN, 'result', ARGV[9]) end
local extra = '{}'
if ARGV[10] ~= '' then
  redis.call('HSET', RUN, 'error', ARGV[10])
  extra = '{"error":' .. ARGV[10] .. '}'
end
go(status, to, extra)
local run, steps, approvals = snapshot()
local unarchived = tonumber(redis.call('GET', SEQ) or '0') - tonumber(redis.call('HGET', ARCHIVE, 'seq') or '0')
return {C.ok, status, run, steps, approvals, tostring(unarchived)}
`);

/**
 * hand_back: running -> queued without spending an attempt (the worker is draining, or a
 * dependency asked the run to come back later). The job itself is moved back by the caller.
 * ARGV  7 generation, 8 log level, 9 log message
 * Returns {ok} | {missing} | {invalid, status} | {stale, status}.
 */
export const HAND_BACK_LUA = script(`
local status, refused = guard('running', ARGV[7])
if refused then return refused end
redis.call('HINCRBY', RUN, 'attempts', -1)
go(status, 'queued', '{}')
event('log', cjson.encode({level = ARGV[8], message = ARGV[9]}))
return {C.ok}
`);

/**
 * recover: the reconciler re-queues a running run whose worker and job are gone (a zombie):
 * generation + 1, so a worker that was only slow finds its checkpoints refused.
 * ARGV  7 generation it saw, 8 log message
 * Returns {ok, gen} | {missing} | {invalid, status} | {stale, status}.
 */
export const RECOVER_LUA = script(`
local status, refused = guard('running', ARGV[7])
if refused then return refused end
local gen = redis.call('HINCRBY', RUN, 'gen', 1)
go(status, 'queued', '{}')
event('log', cjson.encode({level = 'warn', message = ARGV[8]}))
return {C.ok, tostring(gen)}
`);

/**
 * await_approval: running -> awaiting_approval, with the `approval` request event in the same
 * step, so a client that decides as soon as it sees the event finds the run waiting.
 * ARGV  7 generation, 8 approval event payload JSON
 * Returns {ok} | {missing} | {invalid, status} | {stale, status}.
 */
export const AWAIT_APPROVAL_LUA = script(`
local status, refused = guard('running', ARGV[7])
if refused then return refused end
go(status, 'awaiting_approval', '{}')
event('approval', ARGV[8])
return {C.ok}
`);

/**
 * decide: a person approves or rejects the step the run waits for; re-queues the run.
 * ARGV  7 step id, 8 decision JSON, 9 decision event payload JSON, 10 actor JSON ('' = none)
 * Returns {ok, gen} | {missing} | {invalid, status} | {no_step} | {decided}.
 * HSETNX on the approvals hash makes the first decision final. The actor joins the decision
 * (stored), the approval event and the status event as `by`: the audit trail of who decided.
 */
export const DECIDE_LUA = script(`
local status, refused = guard('awaiting_approval')
if refused then return refused end
local raw = redis.call('HGET', STEPS, ARGV[7])
if not raw then return {C.noStep, ''} end
if cjson.decode(raw).status ~= 'awaiting_approval' then return {C.decided, ''} end
if redis.call('HSETNX', APPROVALS, ARGV[7], with_by(ARGV[8], ARGV[10])) == 0 then return {C.decided, ''} end
local gen = redis.call('HINCRBY', RUN, 'gen', 1)
event('approval', with_by(ARGV[9], ARGV[10]))
go(status, 'queued', with_by('{}', ARGV[10]))
return {C.ok, tostring(gen)}
`);

/**
 * cancel: from any status that is not terminal.
 * ARGV  7 error JSON, 8 reason ('' = none), 9 actor JSON ('' = none): the status event's `by`
 * Returns {ok, previous} | {missing} | {invalid, status}.
 */
export const CANCEL_LUA = script(`
local status, refused = guard('created queued running failed awaiting_approval')
if refused then return refused end
redis.call('HSET', RUN, 'error', ARGV[7])
if ARGV[8] ~= '' then redis.call('HSET', RUN, 'cancel_reason', ARGV[8]) end
go(status, 'cancelled', with_by('{"error":' .. ARGV[7] .. '}', ARGV[9]))
return {C.ok, status}
`);

/**
 * retry: runs again what failed, was dead-lettered or cancelled, from its checkpoints.
 * Generation + 1; the run's keys stop expiring and its listing entry goes (it is live again).
 * ARGV  7 mode: retry (failed, dead_lettered, cancelled) | replay (dead_lettered only),
 *       8 actor JSON ('' = none): the status event's `by`, 9 queue limit, 10 tenant queue
 *       limit (0 = unlimited): a run queued again counts against them as a started one does
 * Returns {ok, gen, previous} | {missing} | {invalid, status} | {queue_full, which, limit}.
 */
export const RETRY_LUA = script(`
local allowed = 'failed dead_lettered cancelled'
if ARGV[7] == 'replay' then allowed = 'dead_lettered' end
local status, refused = guard(allowed)
if refused then return refused end
local tenant = run_tenant()
local full = room(tenant, ARGV[9] or '0', ARGV[10] or '0')
if full then return full end
redis.call('HDEL', RUN, 'ended', 'archived', 'error', 'finished_at', 'result')
for _, k in ipairs(run_keys()) do redis.call('PERSIST', k) end
redis.call('ZREM', EXPIRING, tenant .. ' ' .. RUN_ID)
redis.call('HDEL', tenant_key(tenant, 'listing'), RUN_ID)
local gen = redis.call('HINCRBY', RUN, 'gen', 1)
go(status, 'queued', with_by('{}', ARGV[8]))
return {C.ok, tostring(gen), status}
`);

/**
 * checkpoint: one step's state, with its event, and for model runs the turn's transcript
 * message and token usage, so a resumed run neither loses nor repeats a turn.
 * ARGV  7 step id, 8 step state JSON, 9 generation ('' = any), 10 event payload JSON ('' = no
 *       event), 11 transcript message JSON ('' = none), 12 prompt tokens, 13 completion tokens
 * Returns {ok} | {stale, status}.
 */
export const CHECKPOINT_LUA = script(`
if ARGV[9] ~= '' and redis.call('HGET', RUN, 'gen') ~= ARGV[9] then return {C.stale, redis.call('HGET', RUN, 'status') or ''} end
redis.call('HSET', STEPS, ARGV[7], ARGV[8])
if ARGV[11] ~= '' then redis.call('RPUSH', TRANSCRIPT, ARGV[11]) end
if tonumber(ARGV[12]) > 0 then redis.call('HINCRBY', RUN, 'usage_prompt', ARGV[12]) end
if tonumber(ARGV[13]) > 0 then redis.call('HINCRBY', RUN, 'usage_completion', ARGV[13]) end
if ARGV[10] ~= '' then event('step', ARGV[10]) end
return {C.ok}
`);

/**
 * end: the final event of a terminal run, at most once per terminal episode (retry clears it),
 * counted in the deployment's and the tenant's runs-finished-by-status hashes (queue stats'
 * `completed`).
 * With ARGV 7 > 0 it also returns the events not archived yet (after the archive cursor), at
 * most that many, `end` included, and the stream's length, so the archiver can write the
 * last segment without reading the stream again.
 * ARGV  7 most events to return (0 = none)
 * Returns {ok, event id, stream length, archived seq, entries} | {noop} (already ended, or
 * not terminal) | {missing}.
 */
export const END_LUA = script(`
local status = redis.call('HGET', RUN, 'status')
if not status then return {C.missing, ''} end
if not terminal(status) then return {C.noop, status} end
if redis.call('HSETNX', RUN, 'ended', '1') == 0 then return {C.noop, status} end
redis.call('HINCRBY', PREFIX .. 'stats:finished', status, 1)
redis.call('HINCRBY', tenant_key(redis.call('HGET', RUN, 'tenant'), 'finished'), status, 1)
local id = event('end', '{"status":"' .. status .. '"}')
local want = tonumber(ARGV[7] or '0')
if want <= 0 then return {C.ok, id} end
local cursor = redis.call('HMGET', ARCHIVE, 'seq', 'id')
local from = cursor[2] and ('(' .. cursor[2]) or '-'
return {C.ok, id, tostring(redis.call('XLEN', STREAM)), cursor[1] or '0', redis.call('XRANGE', STREAM, from, '+', 'COUNT', want)}
`);

/**
 * archived: the run's archive in its workspace is complete (record and every event,
 * `end` included). Writes its listing entry and starts its retention: the run is due for
 * `expire` after ARGV 7 ms; its keys also get a native TTL of twice that plus a minute, a
 * safety net for a deployment whose workers stop sweeping. The idempotency key is kept no
 * longer than the run. 0 = keep forever.
 * ARGV  7 retention ms, 8 listing entry JSON
 * Returns {ok} | {noop} (not ended, e.g. retried meanwhile) | {missing}.
 */
export const ARCHIVED_LUA = script(`
local f = redis.call('HMGET', RUN, 'status', 'ended', 'tenant', 'idem')
local status, tenant, idem = f[1], f[3], f[4]
if not status then return {C.missing, ''} end
if not terminal(status) or f[2] ~= '1' then return {C.noop, status} end
redis.call('HSET', RUN, 'archived', '1')
redis.call('HSET', tenant_key(tenant, 'listing'), RUN_ID, ARGV[8])
local keep = tonumber(ARGV[7])
if keep > 0 then
  redis.call('ZADD', EXPIRING, tonumber(NOW) + keep, tenant .. ' ' .. RUN_ID)
  -- PEXPIRE of a key that does not exist is a no-op: no EXISTS first.
  for _, k in ipairs(run_keys()) do redis.call('PEXPIRE', k, keep * 2 + 60000) end
  if idem then
    local left = redis.call('PTTL', idem)
    if left < 0 or left > keep then redis.call('PEXPIRE', idem, keep) end
  end
end
return {C.ok}
`);

/**
 * expire: Redis forgets a run whose retention is over. Deletes its keys, takes it out of
 * every index but the tenant's run index and listing (which keep it listable from its
 * archive), and drops its idempotency key. The tenant's forgotten runs are counted: past
 * ARGV 8 of them, the oldest leave the run index and the listing too, so what Redis keeps of
 * forgotten runs is bounded (their archives stay in their workspaces).
 * ARGV  7 tenant (from the expiring index, as the run hash may be gone already), 8 the most
 *       forgotten runs the tenant's listing keeps (max_listed_runs; 0 = no limit)
 * Returns {ok} | {noop} (not due: retried since, or later).
 */
export const EXPIRE_LUA = script(`
local tenant = ARGV[7]
local member = tenant .. ' ' .. RUN_ID
local due = redis.call('ZSCORE', EXPIRING, member)
if not due or tonumber(due) > tonumber(NOW) then return {C.noop, ''} end
local status = redis.call('HGET', RUN, 'status')
if status and not terminal(status) then
  redis.call('ZREM', EXPIRING, member)
  return {C.noop, status}
end
local idem = redis.call('HGET', RUN, 'idem')
if idem then
  local v = redis.call('GET', idem)
  if v and string.sub(v, 1, #RUN_ID) == RUN_ID then redis.call('DEL', idem) end
end
for _, k in ipairs(run_keys()) do redis.call('DEL', k) end
redis.call('ZREM', EXPIRING, member)
redis.call('ZREM', QUEUED, RUN_ID)
redis.call('ZREM', RUNNING, RUN_ID)
redis.call('ZREM', DLQ, RUN_ID)
redis.call('ZREM', tenant_key(tenant, 'queued'), RUN_ID)
redis.call('ZREM', tenant_key(tenant, 'running'), RUN_ID)
redis.call('ZREM', tenant_key(tenant, 'dlq'), RUN_ID)
local keep = tonumber(ARGV[8] or '0')
local expired = tenant_key(tenant, 'expired')
redis.call('ZADD', expired, NOW, RUN_ID)
if keep > 0 then
  local over = redis.call('ZCARD', expired) - keep
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', expired, over)
    for i = 1, #oldest, 2 do
      redis.call('ZREM', tenant_key(tenant, 'runs'), oldest[i])
      redis.call('HDEL', tenant_key(tenant, 'listing'), oldest[i])
    end
  end
end
return {C.ok}
`);

/** Every script by the name its ioredis command gets. */
export const RUN_SCRIPTS = {
  ayRunCreate: CREATE_LUA,
  ayRunRead: READ_LUA,
  ayRunStart: START_LUA,
  ayRunPickup: PICKUP_LUA,
  ayRunFinish: FINISH_LUA,
  ayRunHandBack: HAND_BACK_LUA,
  ayRunRecover: RECOVER_LUA,
  ayRunAwaitApproval: AWAIT_APPROVAL_LUA,
  ayRunDecide: DECIDE_LUA,
  ayRunCancel: CANCEL_LUA,
  ayRunRetry: RETRY_LUA,
  ayRunCheckpoint: CHECKPOINT_LUA,
  ayRunEnd: END_LUA,
  ayRunArchived: ARCHIVED_LUA,
  ayRunExpire: EXPIRE_LUA,
} as const;
export type RunScriptName = keyof typeof RUN_SCRIPTS;
export const RUN_SCRIPT_KEYS = 8;
