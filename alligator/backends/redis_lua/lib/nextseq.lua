-- Takes `n` numbers from the queue's sequence; returns the first. A counter
-- overwritten with something that is not a number restarts from the
-- server's time in milliseconds (it only orders delays and burials).
local function nextseq(n)
  local got = redis.pcall('INCRBY', seq, n)
  if type(got) ~= 'number' then
    local t = redis.call('TIME')
    redis.call('SET', seq, tonumber(t[1]) * 1000)
    got = redis.call('INCRBY', seq, n)
  end
  return got - n + 1
end
