-- keys: ready, delayed, data, leased, meta, buried, seq, notify, prio, blocked, edges, unique, limits, marks
-- resend: safe
--
-- KEYS: the fixed keys above (all but `doomed`, kept as outcomes are: see
-- doom), then every index bucket and limit key. Deletes them all.
return redis.call('DEL', unpack(KEYS))
