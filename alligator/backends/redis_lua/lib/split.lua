-- A blocked task's entry in `blocked`: its due time ('' for none), a comma,
-- then its payload.
local function split(v)
  local c = string.find(v, ',', 1, true)
  return string.sub(v, 1, c - 1), string.sub(v, c + 1)
end
