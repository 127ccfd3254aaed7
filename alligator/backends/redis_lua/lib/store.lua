-- Stores one task (the index entry is the caller's); returns 1 if it went to
-- ready, 0 if delayed. Ready ones are collected in `out` for one RPUSH.
local function store(id, payload, due, now, out)
  if due == '' or tonumber(due) <= tonumber(now) then
    out[#out + 1] = entry(id, payload)
    return 1
  end
  local prefix = fmt(nextseq(1))
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', delayed, due, prefix .. id)
  return 0
end
