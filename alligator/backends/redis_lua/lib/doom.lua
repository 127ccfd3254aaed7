-- Buries every task waiting on `parent` (which failed or was canceled),
-- directly or through others, with `reason`: they never run. Returns their
-- ids, for the caller to store their outcomes. Until it does, `doomed`
-- (scored by expiry, `ms` milliseconds on, as the parent's outcome) says
-- they failed: a dependency on one pushed after `drop_all` or a purge
-- removed its burial is buried at once, as it would be with the outcome.
local function doom(parent, reason, now, ms)
  local expires = tonumber(now) + tonumber(ms) / 1000
  local out, todo = {}, {parent}
  while #todo > 0 do
    local p = table.remove(todo)
    local lo, hi = '[' .. p .. '\255', '(' .. p .. '\255\255'
    local kids = redis.call('ZRANGEBYLEX', edges, lo, hi)
    if #kids > 0 then redis.call('ZREMRANGEBYLEX', edges, lo, hi) end
    for _, m in ipairs(kids) do
      local kid = string.sub(m, #p + 2)
      local v = redis.call('HGET', blocked, kid)
      if v then
        detach(kid)
        redis.call('HDEL', blocked, kid)
        local _, payload = split(v)
        redis.call('HSET', data, kid, PAD .. payload)
        inter(kid, reason, now)
        -- Expired entries go when new ones come: a failure with no dependents costs nothing more.
        if #out == 0 then redis.call('ZREMRANGEBYSCORE', doomed, '-inf', now) end
        redis.call('ZADD', doomed, expires, kid)
        out[#out + 1] = kid
        todo[#todo + 1] = kid
      end
    end
  end
  return out
end
