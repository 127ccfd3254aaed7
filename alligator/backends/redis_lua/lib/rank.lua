-- Puts a due task of priority `pri` (a number other than 0: those go to
-- `ready`) in `prio` as number `n` of the sequence: member fmt(n) .. id,
-- scored by the priority, and its payload in `data` behind the same
-- number, as a delayed task's. Equal scores come out in member order, so
-- equal priorities stay first in, first out. The score is then the task's
-- only record of its priority (a `p:<id>` left from before is harmless).
local function rank(id, payload, pri, n)
  local prefix = fmt(n)
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', prio, pri, prefix .. id)
end
