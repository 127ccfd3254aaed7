-- Stores an outcome under `rkey`, replacing any: a LIST of one element,
-- `flag` then `result`, expiring after `ms` milliseconds. A list, so that a
-- reader blocks on the key itself (BLMOVE key key: the element is read and
-- left in place, and every blocked reader is served). The flag says what a
-- dependency pushed later needs to know: S succeeded, F failed or was
-- canceled, U written apart from any settlement.
local function keep(rkey, flag, result, ms)
  redis.call('DEL', rkey)
  redis.call('RPUSH', rkey, flag .. result)
  redis.call('PEXPIRE', rkey, ms)
end
