-- keys: ready, delayed, data, leased, meta, buried, prio, blocked
-- resend: safe
--
-- The first half of get/cancel: leases a waiting task (ready in `ready` or
-- `prio`, delayed, or with an expired lease; not one blocked on dependencies)
-- by id under the caller's token, for the caller to ack. KEYS: the fixed keys
-- above, then the id's index bucket. ARGV: now (''
-- for the server's clock), id, token, lease seconds. Returns the payload, or
-- false when the id is unknown, held or buried. Sent again with the same
-- token (a reply lost to a timeout), it returns the same payload: the task
-- is never removed by a call whose answer nobody received, and if the ack
-- never comes, the lease expires and the task is ready again.
local now, id, tok = clock(ARGV[1]), ARGV[2], ARGV[3]
local index = KEYS[NK + 1]
local pushed = redis.call('HGET', index, id)
if not pushed then return false end
local old = redis.call('HGET', data, id)
if redis.call('HGET', meta, 't:' .. id) == tok then
  if old then return string.sub(old, W + 1) end
  return false
end
local sid, payload = locate(id, pushed)
if sid then
  unready({sid})
elseif old then
  local prefix = string.sub(old, 1, W)
  if prefix ~= PAD then
    if redis.call('ZREM', delayed, prefix .. id) == 0 then
      local pri = redis.call('ZSCORE', prio, prefix .. id)
      if not pri then return false end
      redis.call('ZREM', prio, prefix .. id)
      redis.call('HSET', meta, 'p:' .. id, pri)
    end
  else
    local deadline = redis.call('ZSCORE', leased, id)
    if not deadline or tonumber(deadline) > tonumber(now) then return false end
  end
  payload = string.sub(old, W + 1)
elseif redis.call('HEXISTS', blocked, id) == 1 then
  return false
else
  -- An index entry with no task behind it: drop it.
  redis.call('HDEL', index, id)
  redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id, 's:' .. id, 'p:' .. id)
  return false
end
redis.call('ZADD', leased, tonumber(now) + tonumber(ARGV[4]), id)
redis.call('HSET', data, id, PAD .. payload)
redis.call('HSET', meta, 't:' .. id, tok)
return payload
