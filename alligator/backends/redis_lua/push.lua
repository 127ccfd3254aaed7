-- keys: ready, delayed, data, seq, notify
--
-- The fast push. KEYS: the fixed keys above, then one index bucket per task.
-- ARGV: now, then (id, payload, due-or-empty) per task. Returns the count, or
-- -1 having changed nothing when an id is already in the queue (or twice in
-- the batch): the caller then runs push_replace.
local n = (#ARGV - 1) / 3
for i = 1, n do
  if redis.call('HSETNX', KEYS[NK + i], ARGV[3 * i - 1], '') == 0 then
    for j = 1, i - 1 do redis.call('HDEL', KEYS[NK + j], ARGV[3 * j - 1]) end
    return -1
  end
end
local now = ARGV[1]
migrate(now)
local out = {}
for i = 1, n do
  store(ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1], now, out)
end
append(out)
wake(n)
return n
