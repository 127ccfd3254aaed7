-- keys: ready, data, delayed, leased, meta
--
-- KEYS: the fixed keys above, then the id's index bucket. ARGV: now, id.
-- Removes a waiting task (ready, delayed, or with an expired lease); returns
-- its payload, or false when the id is unknown, held or buried.
local now, id = ARGV[1], ARGV[2]
local index = KEYS[NK + 1]
if redis.call('HEXISTS', index, id) == 0 then return false end
local old = redis.call('HGET', data, id)
local payload
if old then
  if redis.call('ZREM', delayed, string.sub(old, 1, W) .. id) == 0 then
    local deadline = redis.call('ZSCORE', leased, id)
    if not deadline or tonumber(deadline) > tonumber(now) then return false end
    redis.call('ZREM', leased, id)
  end
  redis.call('HDEL', data, id)
  payload = string.sub(old, W + 1)
else
  payload = unlist(id)
end
redis.call('HDEL', index, id)
redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id)
return payload
