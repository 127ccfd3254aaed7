-- keys: ready, delayed, data, seq, notify, leased, meta, buried, prio, blocked, edges
--
-- Push replacing ids the queue holds: waiting, delayed, blocked, buried, or
-- leased with an expired lease. KEYS and ARGV as push's (more fixed keys). Returns
-- the count, or {'busy', id} having changed nothing when an id is leased
-- and its lease still runs (a running task is never replaced).
local n = (#ARGV - 1) / 4
local now = clock(ARGV[1])
for i = 1, n do
  local id = ARGV[4 * i - 2]
  local deadline = redis.call('ZSCORE', leased, id)
  if deadline and tonumber(deadline) > tonumber(now) then return {'busy', id} end
end
migrate(now)
local base = nextseq(n) - 1
for i = 1, n do
  local id, index = ARGV[4 * i - 2], KEYS[NK + i]
  local pushed = redis.call('HGET', index, id)
  if pushed then forget(id, pushed) end
  local at = store(id, ARGV[4 * i - 1], ARGV[4 * i], now, base + i, ARGV[4 * i + 1])
  redis.call('HSET', index, id, at)
end
wake(n)
return n
