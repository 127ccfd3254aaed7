-- keys: leased, meta, buried, seq
--
-- ARGV: now ('' for the server's clock), id, token, reason. Returns 1, or 0
-- when the lease was lost.
local now, id = clock(ARGV[1]), ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
inter(id, ARGV[4], now)
return 1
