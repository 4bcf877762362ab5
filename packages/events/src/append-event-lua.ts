/**
 * Lua function shared by every script that emits an event, so that a state change and
 * its event are one atomic step (no event without its change, no change without its
 * event).
 *
 * ay_append(stream, seqKey, channel, maxlen, ts, type, payload) -> entry id
 *   stream   the run's Redis Stream, trimmed to exactly `maxlen` entries
 *   seqKey   INCR counter giving `seq`, gapless from 1 per run
 *   channel  pub/sub channel; receives {id, seq, ts, type, data} as JSON
 *   payload  the event's own fields, a JSON object encoded by the caller
 * Trimming is exact (not `~`) so "retained history" means exactly maxlen entries, which
 * is what SSE's reset decision relies on.
 */
export const APPEND_EVENT_LUA = `
local function ay_append(stream, seqKey, channel, maxlen, ts, etype, payload)
  local seq = redis.call('INCR', seqKey)
  local id = redis.call('XADD', stream, 'MAXLEN', maxlen, '*', 'seq', seq, 'ts', ts, 'type', etype, 'data', payload)
  redis.call('PUBLISH', channel, cjson.encode({id = id, seq = seq, ts = ts, type = etype, data = payload}))
  return id
end
`;
