-- keys: ready, delayed, data, seq, notify, meta, buried, prio, marks
--
-- Stores one task unless its id is taken, and marks the id (AbsentPushClient).
-- Taken: the queue holds the id, whatever its state (its index entry), or
-- `marks` holds a live mark of it. KEYS: the fixed keys above, then the
-- id's index bucket. ARGV: now ('' for the server's clock), id, payload,
-- due-or-empty, ttl, priority ('' for 0). Returns 1 having stored the task and marked the id,
-- 0 having changed nothing. Not resent after a lost reply: a second run
-- would answer 0 for the task the first one stored.
local now = clock(ARGV[1])
local id, payload, due = ARGV[2], ARGV[3], ARGV[4]
local bucket = KEYS[NK + 1]
if redis.call('HEXISTS', bucket, id) == 1 then return 0 end
local expiry = redis.call('ZSCORE', marks, id)
if expiry and tonumber(expiry) > tonumber(now) then return 0 end
sweep(now)
migrate(now)
local n = nextseq(1)
local at = ''
if due == '' or tonumber(due) <= tonumber(now) then at = n end
redis.call('HSET', bucket, id, at)
local stored = store(id, payload, due, now, n, ARGV[6])
if stored ~= n and stored ~= '' then redis.call('HSET', bucket, id, stored) end
redis.call('ZADD', marks, tonumber(now) + tonumber(ARGV[5]), id)
redis.call('HSET', meta, 'm:' .. id, now)
wake(1)
return 1
