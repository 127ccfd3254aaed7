-- Moves up to MOVE_MAX delayed tasks due at `now` to the back of `ready`,
-- in due order.
local function migrate(now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #due == 0 then return end
  local out = {}
  for _, m in ipairs(due) do
    local id = string.sub(m, W + 1)
    local old = redis.call('HGET', data, id)
    if old then
      redis.call('HDEL', data, id)
      out[#out + 1] = entry(id, string.sub(old, W + 1))
    end
  end
  redis.call('ZREM', delayed, unpack(due))
  append(out)
end
