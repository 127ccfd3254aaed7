-- keys: ready, delayed, data, seq, notify, meta, buried, prio
--
-- KEYS: the fixed keys above, then the id's index bucket. ARGV: now ('' for
-- the server's clock), id, has-data flag, data. Moves a buried task back to
-- ready (or `prio`, keeping its priority), due now, attempts from 0, reason
-- dropped; returns 1, or 0 when not
-- buried. The index entry is made if it was missing (a `corrupt:<n>` id).
local now, id = clock(ARGV[1]), ARGV[2]
if redis.call('ZREM', buried, id) == 0 then return 0 end
redis.call('HDEL', meta, 'r:' .. id, 'a:' .. id)
local payload = ARGV[4]
if ARGV[3] ~= '1' then payload = string.sub(redis.call('HGET', data, id) or '', W + 1) end
redis.call('HDEL', data, id)
redis.call('HSETNX', KEYS[NK + 1], id, '')
migrate(now)
comeback(id, payload, nextseq(1))
wake(1)
return 1
