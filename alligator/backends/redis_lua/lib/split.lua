-- The id and the payload of a `ready` entry (see entry).
local function split(e)
  local n = string.byte(e, 1)
  if n < 255 then return string.sub(e, 2, n + 1), string.sub(e, n + 2) end
  local colon = string.find(e, ':', 2, true)
  n = tonumber(string.sub(e, 2, colon - 1))
  return string.sub(e, colon + 1, colon + n), string.sub(e, colon + n + 1)
end
