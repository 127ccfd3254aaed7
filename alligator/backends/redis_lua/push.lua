-- keys: ready, delayed, data, seq, notify, meta, buried
--
-- The fast push. KEYS: the fixed keys above, then one index bucket per task.
-- ARGV: now ('' for the server's clock), then (id, payload, due-or-empty)
-- per task. Returns the count, or -1 having stored none of the tasks when
-- an id is already in the queue (or twice in the batch): the caller then
-- runs push_replace. Each task is numbered from the sequence, and its index
-- entry keeps where it goes in `ready` (its number, '' when delayed), made
-- before anything else of the batch is written.
local n = (#ARGV - 1) / 3
-- The server's clock is read only when something needs it: delayed tasks
-- that may have come due, or a task of this call pushed with a due time.
local now = ARGV[1]
if now == '' then
  local needed = redis.call('EXISTS', delayed) == 1
  for i = 1, n do
    if ARGV[3 * i + 1] ~= '' then needed = true end
  end
  if needed then now = clock('') end
end
if now ~= '' then migrate(now) end
local base = nextseq(n) - 1
for i = 1, n do
  local due = ARGV[3 * i + 1]
  local at = ''
  if due == '' or tonumber(due) <= tonumber(now) then at = base + i end
  if redis.call('HSETNX', KEYS[NK + i], ARGV[3 * i - 1], at) == 0 then
    for j = 1, i - 1 do redis.call('HDEL', KEYS[NK + j], ARGV[3 * j - 1]) end
    return -1
  end
end
for i = 1, n do
  local id = ARGV[3 * i - 1]
  local at = store(id, ARGV[3 * i], ARGV[3 * i + 1], now, base + i)
  if at ~= base + i and at ~= '' then redis.call('HSET', KEYS[NK + i], id, at) end
end
wake(n)
return n
