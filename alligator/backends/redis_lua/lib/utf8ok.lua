-- Whether `s` is valid UTF-8 as Python decodes it (no overlong forms, no
-- surrogates, nothing past U+10FFFF). ASCII, the common case, is one find.
local function utf8ok(s)
  if not string.find(s, '[\128-\255]') then return true end
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len, lo, hi = 1, 128, 191
    if c < 128 then
      len = 1
    elseif c >= 194 and c <= 223 then
      len = 2
    elseif c >= 224 and c <= 239 then
      len = 3
      if c == 224 then lo = 160 elseif c == 237 then hi = 159 end
    elseif c >= 240 and c <= 244 then
      len = 4
      if c == 240 then lo = 144 elseif c == 244 then hi = 143 end
    else
      return false
    end
    for k = 1, len - 1 do
      local b = string.byte(s, i + k)
      if not b then return false end
      if k == 1 then
        if b < lo or b > hi then return false end
      elseif b < 128 or b > 191 then
        return false
      end
    end
    i = i + len
  end
  return true
end
