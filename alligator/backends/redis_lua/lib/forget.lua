-- Removes every trace of a task but its index entry, whatever its state
-- (blocked too, when the script declares `blocked`); `pushed` is its index
-- entry's value (where its push put it in `ready`).
local function forget(id, pushed)
  if blocked and redis.call('HDEL', blocked, id) == 1 then detach(id) end
  local sid = locate(id, pushed)
  if sid then unready({sid}) end
  local old = redis.call('HGET', data, id)
  if old then
    redis.call('HDEL', data, id)
    redis.call('ZREM', delayed, string.sub(old, 1, W) .. id)
    redis.call('ZREM', prio, string.sub(old, 1, W) .. id)
    redis.call('ZREM', leased, id)
    redis.call('ZREM', buried, id)
  end
  redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id, 's:' .. id, 'p:' .. id)
end
