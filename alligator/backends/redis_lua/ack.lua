-- keys: data, leased, meta
--
-- KEYS: the fixed keys above, then the task's index bucket. ARGV: now ('' for
-- the server's clock), id, token. Returns 1 when acked, 0 when the lease was
-- lost.
local id = ARGV[2]
if not held(id, ARGV[3], clock(ARGV[1])) then return 0 end
settle(id, KEYS[NK + 1])
return 1
