-- keys: leased, meta, limits, seq
--
-- Admits a reserved task under every limit or none. KEYS: the fixed keys
-- above, then one key per limit (`<tag>:lim:<limit key>`). ARGV: now ('' for
-- the server's clock), id, token, then (limit key, concurrency, rate,
-- period) per limit. Returns '0' when admitted, else the seconds to wait
-- (as a string: Lua truncates floats), having taken nothing.
--
-- A concurrency key is a ZSET of `id token` members: one counts while `id`'s
-- lease is held by `token` (the others are dropped when met). A rate key is
-- a ZSET of starts (numbered from `seq`, so two at one instant both count)
-- scored by their time, pruned to the window (a sliding-window log).
-- `limits` HASH limit key -> 'concurrency rate period', for `alligator info`.
local now = clock(ARGV[1])
local id, tok = ARGV[2], ARGV[3]
if not held(id, tok, now) then return tostring(CONCURRENCY_RETRY) end
local n = (#ARGV - 3) / 4
local wait = 0
local mine = id .. ' ' .. tok
for i = 1, n do
  local k = KEYS[NK + i]
  local c, r, p = tonumber(ARGV[4 * i + 1]), tonumber(ARGV[4 * i + 2]), ARGV[4 * i + 3]
  redis.call('HSET', limits, ARGV[4 * i], c .. ' ' .. r .. ' ' .. p)
  if c > 0 then
    if redis.call('ZSCORE', k, mine) == false then
      for _, m in ipairs(redis.call('ZRANGE', k, 0, -1)) do
        local sp = string.find(m, ' ', 1, true)
        if not sp or not held(string.sub(m, 1, sp - 1), string.sub(m, sp + 1), now) then
          redis.call('ZREM', k, m)
        end
      end
      if redis.call('ZCARD', k) >= c and wait < CONCURRENCY_RETRY then wait = CONCURRENCY_RETRY end
    end
  else
    redis.call('ZREMRANGEBYSCORE', k, '-inf', tonumber(now) - tonumber(p))
    if redis.call('ZCARD', k) >= r then
      local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
      local w = tonumber(first[2]) + tonumber(p) - tonumber(now)
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return tostring(wait) end
for i = 1, n do
  local k = KEYS[NK + i]
  if tonumber(ARGV[4 * i + 1]) > 0 then
    redis.call('ZADD', k, 0, mine)
  else
    redis.call('ZADD', k, now, nextseq(1))
  end
end
return '0'
