-- A sequence number as the W hex digits that prefix payloads and members.
local function fmt(s) return string.format('%012x', s) end
