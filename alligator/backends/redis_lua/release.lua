-- keys: ready, delayed, data, seq, notify, leased, meta, buried, prio
--
-- ARGV: now ('' for the server's clock), id, token, has-data flag, data,
-- due-or-empty. Returns 1, or 0 when the lease was lost.
local now, id = clock(ARGV[1]), ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
local payload = ARGV[5]
if ARGV[4] ~= '1' then payload = string.sub(redis.call('HGET', data, id) or '', W + 1) end
migrate(now)
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
redis.call('HDEL', data, id)
local at = store(id, payload, ARGV[6], now, nextseq(1), redis.call('HGET', meta, 'p:' .. id) or '')
if at ~= '' then redis.call('HSET', meta, 's:' .. id, at) end
wake(1)
return 1
