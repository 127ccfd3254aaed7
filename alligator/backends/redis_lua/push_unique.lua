-- keys: ready, delayed, data, seq, notify, meta, buried, leased, prio, unique
--
-- A push that stores the task only if no queued task holds its unique key.
-- KEYS: the fixed keys above, then the index bucket of the new id, then the
-- index bucket of the holder the client read (the new id's again if none).
-- ARGV: now ('' for the server's clock), key, the `unique` entry the client
-- read ('' if none), id, payload, due-or-empty, '1' to hold while running.
-- Returns {0, ''} when the entry changed since the client read it (the client
-- reads again and retries), {1, id} when stored, {2, holder} when the key is
-- held (nothing stored), {3, id} when the new id is already in the queue.
--
-- `unique` HASH key -> holder id, a space, '1' or '0' (held while running).
-- The key is held while the holder is in the queue (its index entry), not
-- buried, and not running under a held lease unless pushed with '1'.
local now = clock(ARGV[1])
local key, seen, id = ARGV[2], ARGV[3], ARGV[4]
local cur = redis.call('HGET', unique, key)
if cur == false then cur = '' end
if cur ~= seen then return {0, ''} end
if cur ~= '' then
  local sp = string.find(cur, ' ', 1, true)
  local holder, running = string.sub(cur, 1, sp - 1), string.sub(cur, sp + 1)
  if redis.call('HEXISTS', KEYS[NK + 2], holder) == 1
    and redis.call('ZSCORE', buried, holder) == false then
    local deadline = redis.call('ZSCORE', leased, holder)
    if running == '1' or deadline == false or tonumber(deadline) <= tonumber(now) then
      return {2, holder}
    end
  end
end
migrate(now)
local n = nextseq(1)
local due = ARGV[6]
local at = ''
if due == '' or tonumber(due) <= tonumber(now) then at = n end
if redis.call('HSETNX', KEYS[NK + 1], id, at) == 0 then return {3, id} end
local got = store(id, ARGV[5], due, now, n)
if got ~= n and got ~= '' then redis.call('HSET', KEYS[NK + 1], id, got) end
redis.call('HSET', unique, key, id .. ' ' .. ARGV[7])
wake(1)
return {1, id}
