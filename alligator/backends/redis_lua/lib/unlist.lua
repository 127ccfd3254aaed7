-- Removes the task `id` from `ready` and returns its payload (false if it is
-- not there). A scan of the list: O(n), for rare operations only.
local function unlist(id)
  local head = entry(id, '')
  local n = redis.call('LLEN', ready)
  for i = 0, n - 1, 1000 do
    for _, e in ipairs(redis.call('LRANGE', ready, i, i + 999)) do
      if string.sub(e, 1, #head) == head then
        redis.call('LREM', ready, 1, e)
        return string.sub(e, #head + 1)
      end
    end
  end
  return false
end
