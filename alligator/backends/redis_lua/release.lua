-- keys: ready, delayed, data, seq, notify, leased, meta
--
-- ARGV: now, id, token, has-data flag, data, due-or-empty. Returns 1, or 0
-- when the lease was lost.
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
local payload = ARGV[5]
if ARGV[4] ~= '1' then payload = string.sub(redis.call('HGET', data, id), W + 1) end
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
redis.call('HDEL', data, id)
migrate(now)
local out = {}
store(id, payload, ARGV[6], now, out)
append(out)
wake(1)
return 1
