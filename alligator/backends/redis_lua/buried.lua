-- keys: data, meta, buried
-- resend: safe
--
-- No ARGV. Read-only. Returns flat (id, payload, reason, buried-at string),
-- first buried first.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', buried, 0, -1)) do
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
