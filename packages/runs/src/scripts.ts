import { APPEND_EVENT_LUA } from '@agentyard/events';

/**
 * The run store's atomic transitions. Each script changes run state and appends the
 * matching event in one step, so history never disagrees with state.
 */

/**
 * create
 * KEYS  1 run hash, 2 steps hash, 3 tenant index, 4 idempotency key, 5 event stream, 6 event seq,
 *       7 queued zset
 * ARGV  1 run id, 2 doc JSON, 3 step states JSON array [id, state, ...], 4 use idempotency ('1'|'0'),
 *       5 request fingerprint, 6 idempotency TTL s, 7 ts, 8 channel, 9 stream maxlen,
 *       10 start at once ('1'|'0': also the created → queued transition, generation 1), 11 now ms
 * Returns {'created', runId} or {'exists', '<runId> <fingerprint>'} when the key was used before.
 */
export const CREATE_LUA = `${APPEND_EVENT_LUA}
if ARGV[4] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'exists', existing} end
  redis.call('SET', KEYS[4], ARGV[1] .. ' ' .. ARGV[5], 'EX', ARGV[6])
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', 'created', 'gen', 0, 'attempts', 0, 'updated_at', ARGV[7])
local steps = cjson.decode(ARGV[3])
for i = 1, #steps, 2 do redis.call('HSET', KEYS[2], steps[i], steps[i + 1]) end
redis.call('ZADD', KEYS[3], 0, ARGV[1])
ay_append(KEYS[5], KEYS[6], ARGV[8], ARGV[9], ARGV[7], 'status', '{"status":"created","previous":null}')
if ARGV[10] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'gen', 1, 'queued_at', ARGV[7])
  redis.call('ZADD', KEYS[7], ARGV[11], ARGV[1])
  ay_append(KEYS[5], KEYS[6], ARGV[8], ARGV[9], ARGV[7], 'status', '{"status":"queued","previous":"created"}')
end
return {'created', ARGV[1]}
`;

/**
 * transition
 * KEYS  1 run hash, 2 event stream, 3 event seq, 4 DLQ zset, 5 queued zset
 * ARGV  1 allowed from-statuses (space separated), 2 to-status, 3 ts ISO, 4 now ms,
 *       5 fields to set JSON array [k, v, ...], 6 fields to delete (space separated),
 *       7 flags ('gen' bumps the enqueue generation, 'attempts' counts an attempt),
 *       8 channel, 9 stream maxlen, 10 run id, 11 extra event fields JSON object,
 *       12 required generation ('' = any)
 * Returns {'ok', previous, gen, attempts} | {'missing', ''} | {'invalid', current} | {'stale', current}
 * Keeps the DLQ and queued indexes in step with the status and stamps queued_at,
 * started_at (first pickup only) and finished_at.
 */
export const TRANSITION_LUA = `${APPEND_EVENT_LUA}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
local allowed = false
for s in string.gmatch(ARGV[1], '%S+') do if s == status then allowed = true end end
if not allowed then return {'invalid', status} end
if ARGV[12] ~= '' and redis.call('HGET', KEYS[1], 'gen') ~= ARGV[12] then return {'stale', status} end
local to = ARGV[2]
redis.call('HSET', KEYS[1], 'status', to, 'updated_at', ARGV[3])
local set = cjson.decode(ARGV[5])
for i = 1, #set, 2 do redis.call('HSET', KEYS[1], set[i], set[i + 1]) end
for f in string.gmatch(ARGV[6], '%S+') do redis.call('HDEL', KEYS[1], f) end
if string.find(ARGV[7], 'gen', 1, true) then redis.call('HINCRBY', KEYS[1], 'gen', 1) end
if string.find(ARGV[7], 'attempts', 1, true) then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if to == 'queued' then
  redis.call('HSET', KEYS[1], 'queued_at', ARGV[3])
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[10])
else
  redis.call('ZREM', KEYS[5], ARGV[10])
end
if to == 'running' then redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3]) end
if to == 'succeeded' or to == 'dead_lettered' or to == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
end
if to == 'dead_lettered' then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[10]) else redis.call('ZREM', KEYS[4], ARGV[10]) end
local payload = '{"status":"' .. to .. '","previous":"' .. status .. '"'
if ARGV[11] ~= '{}' then payload = payload .. ',' .. string.sub(ARGV[11], 2) else payload = payload .. '}' end
ay_append(KEYS[2], KEYS[3], ARGV[8], ARGV[9], ARGV[3], 'status', payload)
return {'ok', status, redis.call('HGET', KEYS[1], 'gen'), redis.call('HGET', KEYS[1], 'attempts')}
`;

/**
 * checkpoint
 * KEYS  1 run hash, 2 steps hash, 3 event stream, 4 event seq, 5 transcript list
 * ARGV  1 step id, 2 step state JSON, 3 required generation ('' = any), 4 ts, 5 channel,
 *       6 stream maxlen, 7 event type ('' = no event), 8 event payload JSON,
 *       9 transcript message JSON to append ('' = none), 10 prompt tokens, 11 completion tokens
 * Returns 'stale' when the run was re-enqueued since this worker took it (its result must
 * not overwrite the newer attempt's), else the event id or 'ok'. A model turn's message
 * and token usage land together with its step, so a resumed run neither loses nor
 * repeats a turn.
 */
export const CHECKPOINT_LUA = `${APPEND_EVENT_LUA}
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'gen') ~= ARGV[3] then return 'stale' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[9] ~= '' then redis.call('RPUSH', KEYS[5], ARGV[9]) end
if tonumber(ARGV[10]) > 0 then redis.call('HINCRBY', KEYS[1], 'usage_prompt', ARGV[10]) end
if tonumber(ARGV[11]) > 0 then redis.call('HINCRBY', KEYS[1], 'usage_completion', ARGV[11]) end
if ARGV[7] ~= '' then return ay_append(KEYS[3], KEYS[4], ARGV[5], ARGV[6], ARGV[4], ARGV[7], ARGV[8]) end
return 'ok'
`;

/**
 * decide: a person approves or rejects a step the run is waiting on; re-queues the run.
 * KEYS  1 run hash, 2 steps hash, 3 approvals hash, 4 event stream, 5 event seq, 6 queued zset
 * ARGV  1 step id, 2 decision JSON, 3 ts, 4 now ms, 5 channel, 6 stream maxlen, 7 run id,
 *       8 approval event payload JSON
 * Returns {'ok', gen} | {'invalid', run status} | {'no_step', ''} | {'decided', ''}.
 * HSETNX on the approvals hash makes the first decision final: a second one is refused.
 */
export const DECIDE_LUA = `${APPEND_EVENT_LUA}
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'awaiting_approval' then return {'invalid', status or ''} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'no_step', ''} end
if not string.find(raw, '"status":"awaiting_approval"', 1, true) then return {'decided', ''} end
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 0 then return {'decided', ''} end
redis.call('HSET', KEYS[1], 'status', 'queued', 'updated_at', ARGV[3], 'queued_at', ARGV[3])
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[7])
ay_append(KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[3], 'approval', ARGV[8])
ay_append(KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[3], 'status', '{"status":"queued","previous":"awaiting_approval"}')
return {'ok', tostring(gen)}
`;

/**
 * end: the final event of a terminal run, emitted at most once per terminal episode
 * (a retry clears the flag).
 * KEYS  1 run hash, 2 event stream, 3 event seq, 4 finished counts (status → runs ended with it)
 * ARGV  1 ts, 2 channel, 3 stream maxlen
 * Returns the event id, or false when the run already ended or is not terminal.
 */
export const END_LUA = `${APPEND_EVENT_LUA}
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'succeeded' and status ~= 'dead_lettered' and status ~= 'cancelled' then return false end
if redis.call('HSETNX', KEYS[1], 'ended', '1') == 0 then return false end
redis.call('HINCRBY', KEYS[4], status, 1)
return ay_append(KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[1], 'end', '{"status":"' .. status .. '"}')
`;
