-- Takes `n` numbers from the queue's sequence; returns the first.
local function nextseq(n)
  return redis.call('INCRBY', seq, n) - n + 1
end
