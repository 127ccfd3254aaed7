-- keys: data, meta, buried
--
-- KEYS: the fixed keys above, then one index bucket per id. ARGV: the ids of
-- buried tasks to delete. Returns how many were deleted.
local n = 0
for i, id in ipairs(ARGV) do
  if redis.call('ZREM', buried, id) == 1 then
    redis.call('HDEL', data, id)
    redis.call('HDEL', meta, 'r:' .. id, 'a:' .. id, 's:' .. id, 'p:' .. id)
    redis.call('HDEL', KEYS[NK + i], id)
    n = n + 1
  end
end
return n
