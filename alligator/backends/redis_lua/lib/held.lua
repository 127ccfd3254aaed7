-- Whether `tok` is the current lease token of `id` and the lease runs.
local function held(id, tok, now)
  if redis.call('HGET', meta, 't:' .. id) ~= tok then return false end
  local deadline = redis.call('ZSCORE', leased, id)
  return deadline ~= false and tonumber(deadline) > tonumber(now)
end
