-- Drops the dependency edges of the blocked task `id` (canceled, buried or
-- replaced before its dependencies settled), so none of them releases it.
-- `edges` is a ZSET of members, every score 0, read by lexical range:
-- parent .. '\255' .. child (a parent's dependents) and child .. '\254' ..
-- parent (a child's pending dependencies). Ids are UTF-8, which never holds
-- the bytes 254 and 255, so each range holds exactly one id's edges.
local function detach(id)
  local lo, hi = '[' .. id .. '\254', '(' .. id .. '\254\255'
  local ups = redis.call('ZRANGEBYLEX', edges, lo, hi)
  if #ups == 0 then return end
  for _, m in ipairs(ups) do
    redis.call('ZREM', edges, string.sub(m, #id + 2) .. '\255' .. id)
  end
  redis.call('ZREMRANGEBYLEX', edges, lo, hi)
end
