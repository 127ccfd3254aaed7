-- keys: data, seq, leased, meta, buried, blocked, edges, doomed
--
-- ResultClient.fail: bury a task that failed for good, keep its outcome and
-- bury its dependents, in one step. KEYS: the fixed keys above, then the
-- task's result key. ARGV: now ('' for the server's clock), id, token,
-- reason, outcome, its lifetime in ms, the dependents' reason. Returns the
-- ids of the dependents buried, or false having changed nothing when the
-- lease was lost.
local now, id = clock(ARGV[1]), ARGV[2]
if not held(id, ARGV[3], now) then return false end
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
inter(id, ARGV[4], now)
keep(KEYS[NK + 1], 'F', ARGV[5], ARGV[6])
return doom(id, ARGV[7], now, ARGV[6])
