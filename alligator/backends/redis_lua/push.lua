-- keys: ready, delayed, data, seq, notify, meta, buried, prio
--
-- The fast push. KEYS: the fixed keys above, then one index bucket per task.
-- ARGV: now ('' for the server's clock), then (id, payload, due-or-empty,
-- priority-or-empty) per task; a priority is sent only when it is not 0. Returns the count, or -1 having stored none of the tasks when
-- an id is already in the queue (or twice in the batch): the caller then
-- runs push_replace. Each task is numbered from the sequence, and its index
-- entry keeps where it goes in `ready` (its number, '' when delayed), made
-- before anything else of the batch is written.
local n = (#ARGV - 1) / 4
-- The server's clock is read only when something needs it: delayed tasks
-- that may have come due, or a task of this call pushed with a due time.
local now = ARGV[1]
if now == '' then
  local needed = redis.call('EXISTS', delayed) == 1
  for i = 1, n do
    if ARGV[4 * i] ~= '' then needed = true end
  end
  if needed then now = clock('') end
end
if now ~= '' then migrate(now) end
local base = nextseq(n) - 1
for i = 1, n do
  local due = ARGV[4 * i]
  local at = ''
  if ARGV[4 * i + 1] == '' and (due == '' or tonumber(due) <= tonumber(now)) then at = base + i end
  if redis.call('HSETNX', KEYS[NK + i], ARGV[4 * i - 2], at) == 0 then
    for j = 1, i - 1 do redis.call('HDEL', KEYS[NK + j], ARGV[4 * j - 2]) end
    return -1
  end
end
for i = 1, n do
  local id = ARGV[4 * i - 2]
  local at = store(id, ARGV[4 * i - 1], ARGV[4 * i], now, base + i, ARGV[4 * i + 1])
  if at ~= base + i and at ~= '' then redis.call('HSET', KEYS[NK + i], id, at) end
end
wake(n)
return n
