-- Removes every trace of a task but its index entry, whatever its state.
local function forget(id)
  local old = redis.call('HGET', data, id)
  if old then
    redis.call('HDEL', data, id)
    redis.call('ZREM', delayed, string.sub(old, 1, W) .. id)
    redis.call('ZREM', leased, id)
    redis.call('ZREM', buried, id)
  else
    unlist(id)
  end
  redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id)
end
