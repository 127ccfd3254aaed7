-- The `ready` entry of a task: one byte holding the id's length (or
-- '\255<length>:' for ids of 255 bytes and more), the id, then the payload.
local function entry(id, payload)
  local n = #id
  if n < 255 then return string.char(n) .. id .. payload end
  return '\255' .. n .. ':' .. id .. payload
end
