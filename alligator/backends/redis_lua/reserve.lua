-- keys: ready, delayed, data, leased, meta
--
-- Settle and claim. KEYS: the fixed keys above, then one index bucket per task
-- acked. ARGV: now, lease seconds, token prefix, count, then (id, token) per
-- task to ack. Returns {ack flags, tasks, next delayed score, next lease
-- deadline}: tasks flat as (id, payload, token, attempts); the two scores
-- (strings, empty when none) only when no task was due, so a blocking caller
-- knows how long it may sleep.
local now = ARGV[1]
local flags = {}
for i = 1, (#ARGV - 4) / 2 do
  local id, tok = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if held(id, tok, now) then
    redis.call('ZREM', leased, id)
    redis.call('HDEL', data, id)
    redis.call('HDEL', meta, 't:' .. id, 'a:' .. id)
    redis.call('HDEL', KEYS[NK + i], id)
    flags[i] = 1
  else
    flags[i] = 0
  end
end
local count = tonumber(ARGV[4])
if count < 1 then return {flags, {}} end
migrate(now)
recover(now)
local got = redis.call('LPOP', ready, count)
if not got then
  local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  local l = redis.call('ZRANGE', leased, 0, 0, 'WITHSCORES')
  return {flags, {}, d[2] or '', l[2] or ''}
end
local deadline = tonumber(now) + tonumber(ARGV[2])
local out = {}
for i, e in ipairs(got) do
  local id, payload = split(e)
  local tok = ARGV[3] .. '.' .. i
  redis.call('ZADD', leased, deadline, id)
  redis.call('HSET', data, id, PAD .. payload)
  redis.call('HSET', meta, 't:' .. id, tok)
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = tok
  out[#out + 1] = redis.call('HINCRBY', meta, 'a:' .. id, 1)
end
return {flags, out}
