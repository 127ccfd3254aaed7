-- keys: ready, delayed, leased, buried, prio
-- resend: safe
--
-- ARGV: now ('' for the server's clock). Read-only. Returns {ready,
-- delayed, reserved, buried}; a due delayed task and an expired lease count
-- as ready.
local now = clock(ARGV[1])
local due = redis.call('ZCOUNT', delayed, '-inf', now)
local expired = redis.call('ZCOUNT', leased, '-inf', now)
return {
  redis.call('XLEN', ready) + redis.call('ZCARD', prio) + due + expired,
  redis.call('ZCARD', delayed) - due,
  redis.call('ZCARD', leased) - expired,
  redis.call('ZCARD', buried),
}
