-- Records `id` as buried at `now` with `reason` (its payload stays in `data`,
-- under the leased prefix).
local function inter(id, reason, now)
  redis.call('ZADD', buried, nextseq(1), id)
  redis.call('HSET', meta, 'r:' .. id, now .. ' ' .. reason)
end
