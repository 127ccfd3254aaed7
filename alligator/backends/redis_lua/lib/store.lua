-- Stores one fresh task as number `n` of the sequence (the index entry is
-- the caller's): returns where it went in `ready` (see xadd), or '' when it
-- went to `delayed`.
local function store(id, payload, due, now, n)
  if due == '' or tonumber(due) <= tonumber(now) then return xadd(id, payload, n) end
  local prefix = fmt(n)
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', delayed, due, prefix .. id)
  return ''
end
