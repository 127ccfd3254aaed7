-- Keeps `meta` and `data` hash tables while a call settles or leases many
-- tasks (`on`), and takes the marker away at its end (not `on`). Redis keeps
-- a hash of up to hash-max-listpack-entries fields (512 by default) as one
-- flat list that every HSET, HINCRBY and HDEL scans: with a concurrent
-- worker's hundreds of leases in flight (two `meta` fields each) those scans
-- cost the server more than the rest of a claim (8 us an HSET and HDEL on
-- 400 fields, 2 us on a hash table). A field whose value is longer than
-- hash-max-listpack-value (64 bytes by default) converts a hash for good,
-- until it is deleted: the marker is that field, so the hashes do not
-- shrink back to lists or vanish when the call's acks empty them. It is
-- never seen outside the call, and is no task's: its name, byte 255, is
-- not UTF-8, which every task id is.
local function roomy(on)
  if on then
    local wide = string.rep('~', 1024)
    redis.call('HSET', meta, '\255', wide)
    redis.call('HSET', data, '\255', wide)
  else
    redis.call('HDEL', meta, '\255')
    redis.call('HDEL', data, '\255')
  end
end
