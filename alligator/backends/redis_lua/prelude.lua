-- Constants every script starts with (after the key locals the loader
-- writes: one local per key name, nil when the script does not declare it,
-- and NK, the number of fixed keys declared).

-- Width of the hex sequence prefix kept before a payload in `data` and
-- before an id in a `delayed` member; PAD is the prefix of a leased task.
local W = 12
local PAD = string.rep('0', W)

-- Most wake-up tokens kept in `notify`: enough to wake that many idle
-- workers after a burst, few enough that stale tokens cost little.
local NOTIFY_CAP = 64

-- Most delayed tasks moved to `ready` (and expired leases recovered) by one
-- call, so one burst cannot stall the server; the rest move on later calls.
local MOVE_MAX = 1000

-- Seconds a task over a concurrency limit is told to wait before trying again.
local CONCURRENCY_RETRY = 0.05
