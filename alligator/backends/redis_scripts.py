"""The Lua scripts behind the Redis backend, one per multi-step operation.

Each script declares exactly the keys it touches (Redis Cluster requires it),
all sharing the queue's hash tag, so each runs on one Cluster slot. Times
arrive as ``ARGV`` strings from the client's clock (never ``TIME``), so tests
can inject a clock and every client of a queue agrees on one time base.

Layout of one queue (``<tag>`` is ``{<namespace>:<queue>}``), built so that a
waiting task that is due costs one list entry plus one small index entry:

* ``<tag>:ready`` LIST of due tasks, oldest first. Each entry is the task
  itself: one byte holding the id's length (or ``\\xff<length>:`` for ids of
  255 bytes and more), the id, then the payload. Nothing else is stored for a
  ready task that was never reserved.
* ``<tag>:delayed`` ZSET of tasks not yet due, scored by due time; the member
  is a 12-hex-digit per-queue sequence number followed by the id, so equal due
  times come out in push order. Every script that appends to ``ready`` first
  moves the due members here to the back of ``ready`` in due order, so with
  a clock that does not run backwards ``ready`` stays in due-time order. A
  task pushed or released with a due time already past is appended as if due
  at that call (behind tasks due between the two times). One call moves at
  most 1,000 delayed tasks (and recovers at most 1,000 expired leases); in a
  larger burst the rest move on the next calls, so tasks pushed meanwhile can
  go ahead of them.
* ``<tag>:data`` HASH id -> sequence prefix + payload, for tasks that are
  delayed, leased or buried (the prefix finds a delayed task's member).
* ``<tag>:leased`` ZSET id -> lease deadline; ``<tag>:buried`` ZSET id ->
  sequence number at burial (listing order must not depend on the clock).
* ``<tag>:meta`` HASH of per-task extras, by field prefix: ``t:<id>`` the
  lease token of the current holder, ``a:<id>`` times reserved (absent: 0),
  ``r:<id>`` burial time, a space, the reason.
* ``<tag>:i:<n>`` HASH id -> ``""``: the index of every task in the queue,
  whatever its state, split over :data:`INDEX_BUCKETS` keys by CRC32 of the
  id (the client names the bucket, so it is a declared key) to keep each
  bucket small and compactly encoded. A push consults it to replace an id
  the queue holds; ``get``/``cancel`` consult it before looking further.
  Finding a *ready* task by id (replace, get, cancel) scans ``ready``: O(n),
  for operations that are rare next to push and reserve.
* ``<tag>:seq`` STRING counter for the sequence numbers (delays and burials).
* ``<tag>:notify`` LIST of wake-up tokens for blocked reservers (capped).

A lease is held while its token matches and its deadline lies in the future;
a reserve first moves expired leases back to the end of ``ready``.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

#: Every fixed key of a queue, ``ready`` first; the index buckets come on top.
KEY_SUFFIXES: Final = ("ready", "delayed", "data", "leased", "meta", "buried", "seq", "notify")

#: How many index buckets a queue's ids are spread over. Part of the layout:
#: every client of a queue must agree on it.
INDEX_BUCKETS: Final = 1024

#: Most wake-up tokens kept in the notify list: enough to wake that many idle
#: workers after a burst, few enough that stale tokens cost little.
NOTIFY_CAP: Final = 64

#: Most delayed tasks moved to ``ready`` (and expired leases recovered) by one
#: call, so one burst cannot stall the server; the rest move on later calls.
_MOVE_MAX: Final = 1000


class Script(NamedTuple):
    """A script's source, the fixed keys it declares, and whether index
    buckets (one per id the call names) follow them in ``KEYS``."""

    source: str
    keys: tuple[str, ...]


_HELPERS = """
local W = 12
local PAD = string.rep('0', W)

local function fmt(s) return string.format('%012x', s) end

local function nextseq(n)
  return redis.call('INCRBY', seq, n) - n + 1
end

local function entry(id, payload)
  local n = #id
  if n < 255 then return string.char(n) .. id .. payload end
  return '\\255' .. n .. ':' .. id .. payload
end

local function split(e)
  local n = string.byte(e, 1)
  if n < 255 then return string.sub(e, 2, n + 1), string.sub(e, n + 2) end
  local colon = string.find(e, ':', 2, true)
  n = tonumber(string.sub(e, 2, colon - 1))
  return string.sub(e, colon + 1, colon + n), string.sub(e, colon + n + 1)
end

local function append(entries)
  for i = 1, #entries, 1000 do
    redis.call('RPUSH', ready, unpack(entries, i, math.min(i + 999, #entries)))
  end
end

local function migrate(now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #due == 0 then return end
  local out = {}
  for _, m in ipairs(due) do
    local id = string.sub(m, W + 1)
    local old = redis.call('HGET', data, id)
    if old then
      redis.call('HDEL', data, id)
      out[#out + 1] = entry(id, string.sub(old, W + 1))
    end
  end
  redis.call('ZREM', delayed, unpack(due))
  append(out)
end

local function recover(now)
  local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', now, 'LIMIT', 0, MOVE_MAX)
  if #expired == 0 then return end
  local out = {}
  for _, id in ipairs(expired) do
    local old = redis.call('HGET', data, id)
    redis.call('HDEL', meta, 't:' .. id)
    if old then
      redis.call('HDEL', data, id)
      out[#out + 1] = entry(id, string.sub(old, W + 1))
    end
  end
  redis.call('ZREM', leased, unpack(expired))
  append(out)
end

local function wake(n)
  local room = NOTIFY_CAP - redis.call('LLEN', notify)
  if n > room then n = room end
  if n < 1 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  redis.call('RPUSH', notify, unpack(tokens))
end

local function held(id, tok, now)
  if redis.call('HGET', meta, 't:' .. id) ~= tok then return false end
  local deadline = redis.call('ZSCORE', leased, id)
  return deadline ~= false and tonumber(deadline) > tonumber(now)
end

local function unlist(id)
  local head = entry(id, '')
  local n = redis.call('LLEN', ready)
  for i = 0, n - 1, 1000 do
    for _, e in ipairs(redis.call('LRANGE', ready, i, i + 999)) do
      if string.sub(e, 1, #head) == head then
        redis.call('LREM', ready, 1, e)
        return string.sub(e, #head + 1)
      end
    end
  end
  return false
end

local function forget(id)
  local old = redis.call('HGET', data, id)
  if old then
    redis.call('HDEL', data, id)
    redis.call('ZREM', delayed, string.sub(old, 1, W) .. id)
    redis.call('ZREM', leased, id)
    redis.call('ZREM', buried, id)
  else
    unlist(id)
  end
  redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id)
end

-- Stores one task (the index entry is the caller's); returns 1 if it went to
-- ready, 0 if delayed. Ready ones are collected in ``out`` for one RPUSH.
local function store(id, payload, due, now, out)
  if due == '' or tonumber(due) <= tonumber(now) then
    out[#out + 1] = entry(id, payload)
    return 1
  end
  local prefix = fmt(nextseq(1))
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', delayed, due, prefix .. id)
  return 0
end
""".replace("NOTIFY_CAP", str(NOTIFY_CAP)).replace("MOVE_MAX", str(_MOVE_MAX))


def _helpers() -> dict[str, str]:
    # Split the helper source into one chunk per ``local function``, keeping
    # the constants at the top: a script then defines only what it calls.
    head, *parts = _HELPERS.split("\nlocal function ")
    chunks = {"": head}
    for part in parts:
        chunks[part[: part.index("(")]] = "\nlocal function " + part
    return chunks


_CHUNKS: Final = _helpers()


def _needed(body: str) -> list[str]:
    names: list[str] = []
    todo = [body]
    while todo:
        text = todo.pop()
        for name, chunk in _CHUNKS.items():
            if name and name not in names and re.search(rf"\b{name}\(", text):
                names.append(name)
                todo.append(chunk)
    # Helpers keep their source order, so each is defined before its callers.
    return [name for name in _CHUNKS if name in names]


def _script(keys: tuple[str, ...], body: str) -> Script:
    # Lua forbids globals in scripts: every key name is a local, nil when the
    # script does not declare that key (the helpers using it are never called).
    names = ", ".join(KEY_SUFFIXES)
    values = ", ".join(f"KEYS[{keys.index(k) + 1}]" if k in keys else "nil" for k in KEY_SUFFIXES)
    header = f"local {names} = {values}\nlocal NK = {len(keys)}\n"
    helpers = "".join(_CHUNKS[name] for name in _needed(body))
    return Script(header + _CHUNKS[""] + helpers + body, keys)


#: The fast push. KEYS: fixed, then one index bucket per task. ARGV: now, then
#: (id, payload, due-or-empty) per task. Returns the count, or -1 having
#: changed nothing when an id is already in the queue (or twice in the batch):
#: the caller then runs :data:`PUSH_REPLACE`.
PUSH: Final = _script(
    ("ready", "delayed", "data", "seq", "notify"),
    """
local n = (#ARGV - 1) / 3
for i = 1, n do
  if redis.call('HSETNX', KEYS[NK + i], ARGV[3 * i - 1], '') == 0 then
    for j = 1, i - 1 do redis.call('HDEL', KEYS[NK + j], ARGV[3 * j - 1]) end
    return -1
  end
end
local now = ARGV[1]
migrate(now)
local out = {}
for i = 1, n do
  store(ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1], now, out)
end
append(out)
wake(n)
return n
""",
)

#: Push replacing ids the queue holds, in any state. Same KEYS (more fixed
#: ones) and ARGV as :data:`PUSH`.
PUSH_REPLACE: Final = _script(
    ("ready", "delayed", "data", "seq", "notify", "leased", "meta", "buried"),
    """
local n = (#ARGV - 1) / 3
local now = ARGV[1]
migrate(now)
for i = 1, n do
  local id = ARGV[3 * i - 1]
  if redis.call('HSET', KEYS[NK + i], id, '') == 0 then forget(id) end
  local out = {}
  store(id, ARGV[3 * i], ARGV[3 * i + 1], now, out)
  append(out)
end
wake(n)
return n
""",
)

#: Settle and claim. KEYS: fixed, then one index bucket per task acked.
#: ARGV: now, lease seconds, token prefix, count, then (id, token) per task
#: to ack. Returns ``{ack flags, tasks, next delayed score, next lease
#: deadline}``: tasks flat as (id, payload, token, attempts); the two scores
#: (strings, empty when none) only when no task was due, so a blocking caller
#: knows how long it may sleep.
RESERVE: Final = _script(
    ("ready", "delayed", "data", "leased", "meta"),
    """
local now = ARGV[1]
local flags = {}
for i = 1, (#ARGV - 4) / 2 do
  local id, tok = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if held(id, tok, now) then
    redis.call('ZREM', leased, id)
    redis.call('HDEL', data, id)
    redis.call('HDEL', meta, 't:' .. id, 'a:' .. id)
    redis.call('HDEL', KEYS[NK + i], id)
    flags[i] = 1
  else
    flags[i] = 0
  end
end
local count = tonumber(ARGV[4])
if count < 1 then return {flags, {}} end
migrate(now)
recover(now)
local got = redis.call('LPOP', ready, count)
if not got then
  local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  local l = redis.call('ZRANGE', leased, 0, 0, 'WITHSCORES')
  return {flags, {}, d[2] or '', l[2] or ''}
end
local deadline = tonumber(now) + tonumber(ARGV[2])
local out = {}
for i, e in ipairs(got) do
  local id, payload = split(e)
  local tok = ARGV[3] .. '.' .. i
  redis.call('ZADD', leased, deadline, id)
  redis.call('HSET', data, id, PAD .. payload)
  redis.call('HSET', meta, 't:' .. id, tok)
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = tok
  out[#out + 1] = redis.call('HINCRBY', meta, 'a:' .. id, 1)
end
return {flags, out}
""",
)

#: KEYS: fixed, then the task's index bucket. ARGV: now, id, token.
#: Returns 1 when acked, 0 when the lease was lost.
ACK: Final = _script(
    ("data", "leased", "meta"),
    """
local id = ARGV[2]
if not held(id, ARGV[3], ARGV[1]) then return 0 end
redis.call('ZREM', leased, id)
redis.call('HDEL', data, id)
redis.call('HDEL', meta, 't:' .. id, 'a:' .. id)
redis.call('HDEL', KEYS[NK + 1], id)
return 1
""",
)

#: ARGV: now, id, token, has-data flag, data, due-or-empty.
RELEASE: Final = _script(
    ("ready", "delayed", "data", "seq", "notify", "leased", "meta"),
    """
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
local payload = ARGV[5]
if ARGV[4] ~= '1' then payload = string.sub(redis.call('HGET', data, id), W + 1) end
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
redis.call('HDEL', data, id)
migrate(now)
local out = {}
store(id, payload, ARGV[6], now, out)
append(out)
wake(1)
return 1
""",
)

#: ARGV: now, id, token, reason.
BURY: Final = _script(
    ("leased", "meta", "buried", "seq"),
    """
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
redis.call('ZREM', leased, id)
redis.call('HDEL', meta, 't:' .. id)
redis.call('ZADD', buried, nextseq(1), id)
redis.call('HSET', meta, 'r:' .. id, now .. ' ' .. ARGV[4])
return 1
""",
)

#: ARGV: now, lease seconds, then (id, token) per lease. Returns one flag each.
RENEW: Final = _script(
    ("leased", "meta"),
    """
local now = ARGV[1]
local deadline = tonumber(now) + tonumber(ARGV[2])
local flags = {}
for i = 1, (#ARGV - 2) / 2 do
  local id = ARGV[1 + 2 * i]
  if held(id, ARGV[2 + 2 * i], now) then
    redis.call('ZADD', leased, 'XX', deadline, id)
    flags[i] = 1
  else
    flags[i] = 0
  end
end
return flags
""",
)

#: KEYS: fixed, then the id's index bucket. ARGV: now, id. Removes a waiting
#: task (ready, delayed, or with an expired lease); returns its payload, or
#: false when the id is unknown, held or buried.
TAKE: Final = _script(
    ("ready", "data", "delayed", "leased", "meta"),
    """
local now, id = ARGV[1], ARGV[2]
local index = KEYS[NK + 1]
if redis.call('HEXISTS', index, id) == 0 then return false end
local old = redis.call('HGET', data, id)
local payload
if old then
  if redis.call('ZREM', delayed, string.sub(old, 1, W) .. id) == 0 then
    local deadline = redis.call('ZSCORE', leased, id)
    if not deadline or tonumber(deadline) > tonumber(now) then return false end
    redis.call('ZREM', leased, id)
  end
  redis.call('HDEL', data, id)
  payload = string.sub(old, W + 1)
else
  payload = unlist(id)
end
redis.call('HDEL', index, id)
redis.call('HDEL', meta, 't:' .. id, 'a:' .. id, 'r:' .. id)
return payload
""",
)

#: ARGV: now. Read-only. Returns {ready, delayed, reserved, buried}; a due
#: delayed task and an expired lease count as ready.
STATS: Final = _script(
    ("ready", "delayed", "leased", "buried"),
    """
local now = ARGV[1]
local due = redis.call('ZCOUNT', delayed, '-inf', now)
local expired = redis.call('ZCOUNT', leased, '-inf', now)
return {
  redis.call('LLEN', ready) + due + expired,
  redis.call('ZCARD', delayed) - due,
  redis.call('ZCARD', leased) - expired,
  redis.call('ZCARD', buried),
}
""",
)

#: No ARGV. Returns flat (id, payload, reason, buried-at string), first buried first.
BURIED: Final = _script(
    ("data", "meta", "buried"),
    """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', buried, 0, -1)) do
  local why = redis.call('HGET', meta, 'r:' .. id) or '0 '
  local sp = string.find(why, ' ', 1, true)
  out[#out + 1] = id
  out[#out + 1] = string.sub(redis.call('HGET', data, id) or '', W + 1)
  out[#out + 1] = string.sub(why, sp + 1)
  out[#out + 1] = string.sub(why, 1, sp - 1)
end
return out
""",
)

#: ARGV: now, id, has-data flag, data. Moves a buried task back to ready,
#: due now, attempts from 0, reason dropped; returns 1, or 0 when not buried.
REQUEUE: Final = _script(
    ("ready", "delayed", "data", "notify", "meta", "buried"),
    """
local now, id = ARGV[1], ARGV[2]
if redis.call('ZREM', buried, id) == 0 then return 0 end
redis.call('HDEL', meta, 'r:' .. id, 'a:' .. id)
local payload = ARGV[4]
if ARGV[3] ~= '1' then payload = string.sub(redis.call('HGET', data, id) or '', W + 1) end
redis.call('HDEL', data, id)
migrate(now)
append({entry(id, payload)})
wake(1)
return 1
""",
)

#: KEYS: fixed, then one index bucket per id. ARGV: the ids of buried tasks
#: to delete. Returns how many were deleted.
PURGE: Final = _script(
    ("data", "meta", "buried"),
    """
local n = 0
for i, id in ipairs(ARGV) do
  if redis.call('ZREM', buried, id) == 1 then
    redis.call('HDEL', data, id)
    redis.call('HDEL', meta, 'r:' .. id, 'a:' .. id)
    redis.call('HDEL', KEYS[NK + i], id)
    n = n + 1
  end
end
return n
""",
)

#: KEYS: every fixed key, then every index bucket. Deletes them all.
DROP: Final = _script(KEY_SUFFIXES, "\nreturn redis.call('DEL', unpack(KEYS))\n")
