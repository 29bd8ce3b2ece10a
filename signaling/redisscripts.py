"""The Lua scripts of the Redis bus: each stores and fans out in one step, so nothing is
published without being stored."""

# KEYS: idem key, alert key prefix, stream, open set, channel, raised sorted set.
# ARGV: alert id, alert json (no cursor), idem ttl, stream maxlen, raised_at.
_STORE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local stored = redis.call('GET', KEYS[2] .. existing)
  if stored then return {0, stored} end
end
local cursor = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 't', 'alert', 'a', ARGV[2])
local js = string.sub(ARGV[2], 1, -2) .. ',"cursor":"' .. cursor .. '","raised_cursor":"'
           .. cursor .. '"}'
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2] .. ARGV[1], js)
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
redis.call('PUBLISH', KEYS[5], '{"type":"alert","cursor":"' .. cursor .. '","alert":' .. js .. '}')
return {1, js}
"""

# KEYS: alert key, stream, open set, channel, raised sorted set. ARGV: expected json, new
# json (no cursor), alert id, still open (1/0), stream maxlen, still raised (1/0).
_UPDATE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local cursor = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
                          't', 'alert.updated', 'a', ARGV[2])
local js = string.sub(ARGV[2], 1, -2) .. ',"cursor":"' .. cursor .. '"}'
redis.call('SET', KEYS[1], js)
if ARGV[4] == '0' then redis.call('SREM', KEYS[3], ARGV[3]) end
if ARGV[6] == '0' then redis.call('ZREM', KEYS[5], ARGV[3]) end
redis.call('PUBLISH', KEYS[4],
           '{"type":"alert.updated","cursor":"' .. cursor .. '","alert":' .. js .. '}')
return js
"""

# The escalation timer's pass: _UPDATE for each of several alerts, and ONE message for all of
# them, so a node's consoles get one frame per pass (each update is still its own stream
# entry, replayed on its own). An alert changed since it was read is left out ('' in the
# answer) and read again by the caller.
# KEYS: stream, open set, channel, raised sorted set, then one alert key per alert.
# ARGV: stream maxlen, then for each alert: expected json, new json (no cursor), alert id,
# still open (1/0), still raised (1/0).
_UPDATE_MANY = """
local events, stored = {}, {}
for i = 5, #KEYS do
  local a = 2 + (i - 5) * 5
  if redis.call('GET', KEYS[i]) == ARGV[a] then
    local cursor = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                              't', 'alert.updated', 'a', ARGV[a + 1])
    local js = string.sub(ARGV[a + 1], 1, -2) .. ',"cursor":"' .. cursor .. '"}'
    redis.call('SET', KEYS[i], js)
    if ARGV[a + 3] == '0' then redis.call('SREM', KEYS[2], ARGV[a + 2]) end
    if ARGV[a + 4] == '0' then redis.call('ZREM', KEYS[4], ARGV[a + 2]) end
    events[#events + 1] = '{"type":"alert.updated","cursor":"' .. cursor .. '","alert":'
                          .. js .. '}'
    stored[#stored + 1] = js
  else
    stored[#stored + 1] = ''
  end
end
if #events > 0 then
  redis.call('PUBLISH', KEYS[3],
             '{"type":"alerts.updated","events":[' .. table.concat(events, ',') .. ']}')
end
return stored
"""


# KEYS: instruction key, index of all, channel, then one index key per recipient.
# ARGV: expected json ('' for a new one), new json, id, score, ttl, event type.
_INSTRUCTION = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return false end
elseif current ~= ARGV[1] then
  return false
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
if ARGV[1] == '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  for i = 4, #KEYS do redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3]) end
end
redis.call('PUBLISH', KEYS[3], '{"type":"' .. ARGV[6] .. '","instruction":' .. ARGV[2] .. '}')
return 1
"""
INSTRUCTION_TTL_S = 7 * 24 * 3600
