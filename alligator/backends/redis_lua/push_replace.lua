-- keys: ready, delayed, data, seq, notify, leased, meta, buried
--
-- Push replacing ids the queue holds, in any state. KEYS and ARGV as push's
-- (more fixed keys). Returns the count.
local n = (#ARGV - 1) / 3
local now = ARGV[1]
migrate(now)
for i = 1, n do
  local id = ARGV[3 * i - 1]
  if redis.call('HSET', KEYS[NK + i], id, '') == 0 then forget(id) end
  local out = {}
  store(id, ARGV[3 * i], ARGV[3 * i + 1], now, out)
  append(out)
end
wake(n)
return n
