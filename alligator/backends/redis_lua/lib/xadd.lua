-- Appends a task to `ready` under the stream id 0-<n>, `n` a number the
-- caller took from the queue's sequence: short ids stay compact in the
-- stream and in the index. Should the stream's top id be larger (an entry
-- added by other code), Redis picks the id instead. Returns what records
-- the entry's place: `n`, or the whole stream id.
local function xadd(id, payload, n)
  local sid = redis.pcall('XADD', ready, '0-' .. n, id, payload)
  if type(sid) == 'table' then return redis.call('XADD', ready, '*', id, payload) end
  return n
end
