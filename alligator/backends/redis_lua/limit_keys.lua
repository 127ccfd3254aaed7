-- keys: limits
-- resend: safe
--
-- Every limit key used on the queue (limit_usage is then told their ZSETs).
return redis.call('HKEYS', limits)
