-- keys: buried, doomed
-- resend: safe
--
-- ResultStore.store_result: keep an outcome written apart from any
-- settlement (a store apart from its queue, or the outcome of a dependent
-- that fail or cancel buried). KEYS: the fixed key above, then the result
-- key. ARGV: id, outcome, its lifetime in ms. It keeps the flag of the
-- outcome it replaces; a new one is F when the queue holds the task buried
-- or a failure buried it (`doomed`, whose entry the outcome now replaces),
-- else U (unknown: counts as done for a dependency).
local rkey, id = KEYS[NK + 1], ARGV[1]
local old = redis.call('LINDEX', rkey, 0)
local was_doomed = redis.call('ZREM', doomed, id) == 1
local flag = 'U'
if old then
  flag = string.sub(old, 1, 1)
elseif was_doomed or redis.call('ZSCORE', buried, id) then
  flag = 'F'
end
keep(rkey, flag, ARGV[2], ARGV[3])
return 1
