-- Moves up to MOVE_MAX tasks whose lease expired by `now` back to the end
-- of `ready`; their tokens are dropped, so a late ack is refused. A lease of
-- an id with no stored task is buried as malformed.
local function recover(now)
  local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #expired == 0 then return end
  local n = nextseq(#expired)
  for i, id in ipairs(expired) do
    local old = redis.call('HGET', data, id)
    redis.call('HDEL', meta, 't:' .. id)
    if old then
      comeback(id, string.sub(old, W + 1), n + i - 1)
    else
      quarantine('lease entry: ' .. show(id) .. ' has no task data', '', now)
    end
  end
  redis.call('ZREM', leased, unpack(expired))
end
