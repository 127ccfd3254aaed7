-- keys: ready, delayed, data, leased, meta, buried, seq, notify, prio, blocked, edges, marks
-- resend: safe
--
-- KEYS: every fixed key, then every index bucket. Deletes them all.
return redis.call('DEL', unpack(KEYS))
