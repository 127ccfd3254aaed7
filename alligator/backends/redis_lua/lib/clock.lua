-- The time of this call, epoch seconds as a string: the client's injected
-- clock when it sent one (`arg`, tests), else the server's own TIME, so
-- every worker judges due times and lease deadlines by one clock whatever
-- its machine's clock says.
local function clock(arg)
  if arg ~= '' then return arg end
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
