-- Deletes the first `n` entries of `ready`, the last of them `last` (a
-- reserve read them all): one XTRIM of the prefix, which frees whole nodes,
-- and one XDEL; then the stream itself once it is empty.
local function consumed(n, last)
  if n > 1 then redis.call('XTRIM', ready, 'MINID', '=', last) end
  redis.call('XDEL', ready, last)
  if redis.call('XLEN', ready) == 0 then redis.call('DEL', ready) end
end
