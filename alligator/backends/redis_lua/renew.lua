-- keys: leased, meta
-- resend: safe
--
-- ARGV: now ('' for the server's clock), lease seconds, then (id, token) per
-- lease. Returns one flag each.
local now = clock(ARGV[1])
local deadline = tonumber(now) + tonumber(ARGV[2])
local flags = {}
for i = 1, (#ARGV - 2) / 2 do
  local id = ARGV[1 + 2 * i]
  if held(id, ARGV[2 + 2 * i], now) then
    redis.call('ZADD', leased, 'XX', deadline, id)
    flags[i] = 1
  else
    flags[i] = 0
  end
end
return flags
