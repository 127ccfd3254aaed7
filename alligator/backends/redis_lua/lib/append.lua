-- Appends entries to the end of `ready`, 1,000 per RPUSH (unpack's limit).
local function append(entries)
  for i = 1, #entries, 1000 do
    redis.call('RPUSH', ready, unpack(entries, i, math.min(i + 999, #entries)))
  end
end
