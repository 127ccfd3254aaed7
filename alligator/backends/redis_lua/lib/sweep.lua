-- Deletes up to MOVE_MAX marks that expired at `now` (off the expiry order
-- of `marks`, never a scan), with their times in `meta` (`m:<key>`).
local function sweep(now)
  local old = redis.call('ZRANGEBYSCORE', marks, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #old == 0 then return end
  local fields = {}
  for i, key in ipairs(old) do fields[i] = 'm:' .. key end
  redis.call('ZREM', marks, unpack(old))
  redis.call('HDEL', meta, unpack(fields))
end
