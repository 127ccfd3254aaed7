-- keys: unique
-- resend: safe
--
-- The `unique` entry of the key ARGV[1] ('' if none): what push_unique is
-- then told the client saw.
local cur = redis.call('HGET', unique, ARGV[1])
if cur == false then return '' end
return cur
