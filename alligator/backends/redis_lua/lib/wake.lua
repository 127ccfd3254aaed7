-- Adds up to `n` wake-up tokens to `notify`, keeping at most NOTIFY_CAP.
local function wake(n)
  local room = NOTIFY_CAP - redis.call('LLEN', notify)
  if n > room then n = room end
  if n < 1 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  redis.call('RPUSH', notify, unpack(tokens))
end
