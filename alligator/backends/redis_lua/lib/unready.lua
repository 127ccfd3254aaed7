-- Deletes entries from `ready` by stream id; deletes the stream itself once
-- it is empty (Redis keeps an empty stream), so an idle queue leaves no key.
local function unready(sids)
  redis.call('XDEL', ready, unpack(sids))
  if redis.call('XLEN', ready) == 0 then redis.call('DEL', ready) end
end
