-- Puts a task that comes back to ready (due after a delay, an expired
-- lease, a release, a requeue) as number `n` of the sequence: to `prio` when
-- it has a priority (`p:<id>`), else to the end of `ready`, recording where,
-- as its push's index entry cannot be updated here (it is not a declared
-- key). Either way its `data` entry is the caller's no more.
local function comeback(id, payload, n)
  local pri = redis.call('HGET', meta, 'p:' .. id)
  if pri then
    rank(id, payload, pri, n)
    return
  end
  redis.call('HDEL', data, id)
  redis.call('HSET', meta, 's:' .. id, xadd(id, payload, n))
end
