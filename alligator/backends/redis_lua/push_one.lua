-- keys: ready, delayed, data, seq, notify, meta, buried, prio
--
-- The plain push of one task: due now, priority 0, a fresh id (the common
-- enqueue). It stores exactly what push.lua stores for such a task, without
-- the batch's loops and the branches for due times and priorities, which
-- every call would otherwise pay for. KEYS: the fixed keys above, then the
-- task's index bucket. ARGV: now ('' for the server's clock), id, payload.
-- Returns 1, or -1 having stored nothing when the id is already in the
-- queue: the caller then runs push_replace.
local id = ARGV[2]
-- Delayed tasks that have come due go first (FIFO by due time).
if ARGV[1] ~= '' or redis.call('EXISTS', delayed) == 1 then migrate(clock(ARGV[1])) end
local n = nextseq(1)
if redis.call('HSETNX', KEYS[NK + 1], id, n) == 0 then return -1 end
local at = xadd(id, ARGV[3], n)
if at ~= n then redis.call('HSET', KEYS[NK + 1], id, at) end
wake(1)
return 1
