-- Buries what a malformed entry held under a new id, `corrupt:<n>`, with
-- the reason `malformed <what>`, so it is listed, kept and purgeable like any
-- buried task and never blocks the queue. Nothing else is touched: the
-- entry itself is removed by the caller.
local function quarantine(what, payload, now)
  local n = nextseq(1)
  local cid = 'corrupt:' .. n
  while redis.call('HEXISTS', data, cid) == 1 do
    n = nextseq(1)
    cid = 'corrupt:' .. n
  end
  redis.call('HSET', data, cid, PAD .. payload)
  redis.call('ZADD', buried, n, cid)
  redis.call('HSET', meta, 'r:' .. cid, now .. ' malformed ' .. what)
end
