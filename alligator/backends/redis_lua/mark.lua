-- keys: meta, marks
-- resend: safe
--
-- Marks a key unless it has a live mark, whose time is kept and whose
-- expiry moves to `ttl` seconds from now if that is later. ARGV: now (''
-- for the server's clock), key, ttl. Returns the mark's time.
local now = clock(ARGV[1])
local key = ARGV[2]
local expiry = tonumber(now) + tonumber(ARGV[3])
local old = redis.call('ZSCORE', marks, key)
if old and tonumber(old) > tonumber(now) then
  local at = redis.call('HGET', meta, 'm:' .. key)
  if at then
    if expiry > tonumber(old) then redis.call('ZADD', marks, expiry, key) end
    return at
  end
end
sweep(now)
redis.call('ZADD', marks, expiry, key)
redis.call('HSET', meta, 'm:' .. key, now)
return now
