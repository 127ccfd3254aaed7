-- The stream id and payload of the `ready` entry of `id`, or nil when the
-- task is not ready. Tries the place recorded in `meta` when the task last
-- came back to ready (`s:<id>`), then the one its push recorded in the
-- index (`pushed`), each a sequence number n (stream id 0-n) or a whole
-- stream id: one XRANGE of a single id, O(log n), and the entry found must
-- carry this id.
local function locate(id, pushed)
  local again = redis.call('HGET', meta, 's:' .. id)
  for _, at in ipairs({again or '', pushed or ''}) do
    local sid = at
    if string.find(at, '^%d+$') then sid = '0-' .. at end
    if string.find(sid, '^%d+%-%d+$') then
      local e = redis.call('XRANGE', ready, sid, sid)[1]
      if e and #e[2] == 2 and e[2][1] == id then return sid, e[2][2] end
    end
  end
  return nil
end
