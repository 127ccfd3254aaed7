-- Moves up to MOVE_MAX delayed tasks due at `now` to the back of `ready`,
-- in due order. A member that names no delayed task (too short, the prefix
-- of a leased one, or no payload with its prefix) is buried as malformed.
local function migrate(now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #due == 0 then return end
  local n = nextseq(#due)
  for i, m in ipairs(due) do
    local prefix, id = string.sub(m, 1, W), string.sub(m, W + 1)
    local old = #m > W and prefix ~= PAD and redis.call('HGET', data, id)
    if old and string.sub(old, 1, W) == prefix then
      comeback(id, string.sub(old, W + 1), n + i - 1)
    else
      quarantine('delayed entry: member ' .. show(m) .. ' names no delayed task', '', now)
    end
  end
  redis.call('ZREM', delayed, unpack(due))
end
