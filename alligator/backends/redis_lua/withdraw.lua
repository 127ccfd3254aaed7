-- keys: ready, delayed, data, leased, meta, buried, seq, prio, blocked, edges, doomed
--
-- ResultClient.cancel: remove a waiting task (ready, by priority, delayed, blocked, or
-- leased with an expired lease), keep its canceled outcome and bury its
-- dependents, in one step. KEYS: the fixed keys above, the id's index
-- bucket, its result key. ARGV: now ('' for the server's clock), id,
-- outcome, its lifetime in ms, the dependents' reason. Returns {payload,
-- ids of the dependents buried}, or false having changed nothing when no
-- waiting task has that id (a running or buried one is left alone).
local now, id = clock(ARGV[1]), ARGV[2]
local index = KEYS[NK + 1]
local pushed = redis.call('HGET', index, id)
if not pushed then return false end
local payload
local v = redis.call('HGET', blocked, id)
if v then
  detach(id)
  redis.call('HDEL', blocked, id)
  local _, p = split(v)
  payload = p
else
  local sid, p = locate(id, pushed)
  if sid then
    unready({sid})
    payload = p
  else
    local old = redis.call('HGET', data, id)
    if not old or redis.call('ZSCORE', buried, id) then return false end
    local prefix = string.sub(old, 1, W)
    if prefix ~= PAD then
      if redis.call('ZREM', delayed, prefix .. id) == 0
        and redis.call('ZREM', prio, prefix .. id) == 0 then
        return false
      end
    else
      local deadline = redis.call('ZSCORE', leased, id)
      if not deadline or tonumber(deadline) > tonumber(now) then return false end
      redis.call('ZREM', leased, id)
    end
    redis.call('HDEL', data, id)
    payload = string.sub(old, W + 1)
  end
end
redis.call('HDEL', index, id)
redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 's:' .. id, 'p:' .. id)
keep(KEYS[NK + 2], 'F', ARGV[3], ARGV[4])
return {payload, doom(id, ARGV[5], now, ARGV[4])}
