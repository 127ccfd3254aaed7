-- keys: ready, delayed, data, seq, notify, leased, meta, buried, prio, blocked, edges
--
-- ResultClient.complete: ack a task that ran, keep its outcome and release
-- its dependents, in one step. KEYS: the fixed keys above, the task's index
-- bucket, its result key. ARGV: now ('' for the server's clock), id, token,
-- outcome, its lifetime in ms. Returns 1, or 0 having changed nothing when
-- the lease was lost (a worker that lost its lease stores no outcome).
local now, id = clock(ARGV[1]), ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
settle(id, KEYS[NK + 1])
keep(KEYS[NK + 2], 'S', ARGV[4], ARGV[5])
freed(id, now)
return 1
