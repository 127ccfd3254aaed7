-- Releases the dependents of `parent`, which just succeeded: each blocked
-- task whose last pending dependency it was goes to `ready` (or `delayed`,
-- due at its own time), and an idle worker is woken. Returns how many.
local function freed(parent, now)
  local lo, hi = '[' .. parent .. '\255', '(' .. parent .. '\255\255'
  local kids = redis.call('ZRANGEBYLEX', edges, lo, hi)
  if #kids == 0 then return 0 end
  redis.call('ZREMRANGEBYLEX', edges, lo, hi)
  local n = 0
  for _, m in ipairs(kids) do
    local kid = string.sub(m, #parent + 2)
    redis.call('ZREM', edges, kid .. '\254' .. parent)
    local v = redis.call('HGET', blocked, kid)
    local left = redis.call('ZLEXCOUNT', edges, '[' .. kid .. '\254', '(' .. kid .. '\254\255')
    if v and left == 0 then
      redis.call('HDEL', blocked, kid)
      if n == 0 then migrate(now) end
      local due, payload = split(v)
      local at = store(kid, payload, due, now, nextseq(1))
      if at ~= '' then redis.call('HSET', meta, 's:' .. kid, at) end
      n = n + 1
    end
  end
  if n > 0 then wake(n) end
  return n
end
