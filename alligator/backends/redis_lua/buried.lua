-- keys: data, meta, buried
-- resend: safe
--
-- ARGV: first, last: the ranks (0-based, inclusive) of the burials to read,
-- in burial order; absent, every one (0, -1). Read-only. ZRANGE by rank
-- walks the skip list to `first` and reads only that range, so a page costs
-- O(log n + its size) whatever the queue holds. Returns flat (id, payload,
-- reason, buried-at string), first buried first.
local first = tonumber(ARGV[1]) or 0
local last = tonumber(ARGV[2]) or -1
local out = {}
for _, id in ipairs(redis.call('ZRANGE', buried, first, last)) do
  local why = redis.call('HGET', meta, 'r:' .. id) or '0 '
  local sp = string.find(why, ' ', 1, true)
  out[#out + 1] = id
  out[#out + 1] = string.sub(redis.call('HGET', data, id) or '', W + 1)
  if sp then
    out[#out + 1] = string.sub(why, sp + 1)
    out[#out + 1] = string.sub(why, 1, sp - 1)
  else
    out[#out + 1] = why
    out[#out + 1] = ''
  end
end
return out
