-- keys: leased, meta, limits
-- resend: safe
--
-- Each limit key's current use. KEYS: the fixed keys above, then one key per
-- limit, in the order of ARGV after `now`: the limit keys (the client read
-- them from `limits`). Returns per limit: key, 'concurrency rate period',
-- tasks holding it now, starts within its window.
local now = clock(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local k = KEYS[NK + i - 1]
  local spec = redis.call('HGET', limits, ARGV[i])
  if spec then
    local c, r, p = string.match(spec, '^(%S+) (%S+) (%S+)$')
    local running, recent = 0, 0
    if tonumber(c) > 0 then
      for _, m in ipairs(redis.call('ZRANGE', k, 0, -1)) do
        local sp = string.find(m, ' ', 1, true)
        if sp and held(string.sub(m, 1, sp - 1), string.sub(m, sp + 1), now) then
          running = running + 1
        end
      end
    else
      recent = redis.call('ZCOUNT', k, '(' .. (tonumber(now) - tonumber(p)), '+inf')
    end
    out[#out + 1] = {ARGV[i], spec, running, recent}
  end
end
return out
