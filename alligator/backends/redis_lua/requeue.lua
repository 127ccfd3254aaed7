-- keys: ready, delayed, data, notify, meta, buried
--
-- ARGV: now, id, has-data flag, data. Moves a buried task back to ready, due
-- now, attempts from 0, reason dropped; returns 1, or 0 when not buried.
local now, id = ARGV[1], ARGV[2]
if redis.call('ZREM', buried, id) == 0 then return 0 end
redis.call('HDEL', meta, 'r:' .. id, 'a:' .. id)
local payload = ARGV[4]
if ARGV[3] ~= '1' then payload = string.sub(redis.call('HGET', data, id) or '', W + 1) end
redis.call('HDEL', data, id)
migrate(now)
append({entry(id, payload)})
wake(1)
return 1
