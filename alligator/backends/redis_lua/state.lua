-- keys: ready, delayed, data, leased, meta, buried, prio, blocked
-- resend: safe
--
-- ResultClient.task_state. KEYS: the fixed keys above, then the id's index
-- bucket. ARGV: now ('' for the server's clock), id. Read-only. Returns
-- {state, attempts}, or false when the queue does not hold the task. A due
-- delayed task and an expired lease are ready.
local now, id = clock(ARGV[1]), ARGV[2]
local pushed = redis.call('HGET', KEYS[NK + 1], id)
if not pushed then return false end
if redis.call('HEXISTS', blocked, id) == 1 then return {'blocked', 0} end
local attempts = tonumber(redis.call('HGET', meta, 'a:' .. id)) or 0
local state
if redis.call('ZSCORE', buried, id) then
  state = 'buried'
else
  local deadline = redis.call('ZSCORE', leased, id)
  local old = redis.call('HGET', data, id)
  if deadline then
    state = 'ready'
    if tonumber(deadline) > tonumber(now) then state = 'reserved' end
  elseif old and string.sub(old, 1, W) ~= PAD then
    local due = redis.call('ZSCORE', delayed, string.sub(old, 1, W) .. id)
    if due then
      state = 'ready'
      if tonumber(due) > tonumber(now) then state = 'delayed' end
    elseif redis.call('ZSCORE', prio, string.sub(old, 1, W) .. id) then
      state = 'ready'
    else
      return false
    end
  elseif locate(id, pushed) then
    state = 'ready'
  else
    return false
  end
end
return {state, attempts}
