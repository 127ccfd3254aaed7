-- Stores one fresh task as number `n` of the sequence (the index entry is
-- the caller's), with its priority `pri` ('' or nil for 0): returns where it went in
-- `ready` (see xadd), or '' when it went to `delayed` or `prio`. A delayed
-- task's priority is kept as `p:<id>` (a task in `prio` has it in its score
-- until a reserve or a get leases it and writes `p:<id>` then).
local function store(id, payload, due, now, n, pri)
  pri = pri or ''
  if due == '' or tonumber(due) <= tonumber(now) then
    if pri == '' then return xadd(id, payload, n) end
    rank(id, payload, pri, n)
    return ''
  end
  if pri ~= '' then redis.call('HSET', meta, 'p:' .. id, pri) end
  local prefix = fmt(n)
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', delayed, due, prefix .. id)
  return ''
end
