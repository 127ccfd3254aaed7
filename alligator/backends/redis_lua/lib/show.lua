-- `s` made printable for a burial reason: itself when it is short printable
-- ASCII, else its first 32 bytes in hex.
local function show(s)
  if #s <= 64 and not string.find(s, '[^\32-\126]') then return "'" .. s .. "'" end
  local hex = string.gsub(string.sub(s, 1, 32), '.', function(c)
    return string.format('%02x', string.byte(c))
  end)
  if #s > 32 then hex = hex .. '...' end
  return 'bytes ' .. hex
end
