-- Removes every trace of a task that ran, its lease held: the lease, its
-- stored payload, its extras (priority included) and its index entry (`bucket`).
local function settle(id, bucket)
  redis.call('ZREM', leased, id)
  redis.call('HDEL', data, id)
  redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 's:' .. id, 'p:' .. id)
  redis.call('HDEL', bucket, id)
end
