-- Appends a task that comes back to ready (due after a delay, an expired
-- lease, a release, a requeue) as number `n` of the sequence, and records
-- where, as its push's index entry cannot be updated here (it is not a
-- declared key).
local function comeback(id, payload, n)
  redis.call('HSET', meta, 's:' .. id, xadd(id, payload, n))
end
