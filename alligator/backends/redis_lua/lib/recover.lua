-- Moves up to MOVE_MAX tasks whose lease expired by `now` back to the end
-- of `ready`; their tokens are dropped, so a late ack is refused.
local function recover(now)
  local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #expired == 0 then return end
  local out = {}
  for _, id in ipairs(expired) do
    local old = redis.call('HGET', data, id)
    redis.call('HDEL', meta, 't:' .. id)
    if old then
      redis.call('HDEL', data, id)
      out[#out + 1] = entry(id, string.sub(old, W + 1))
    end
  end
  redis.call('ZREM', leased, unpack(expired))
  append(out)
end
