"""The Lua scripts behind the Redis backend, one per multi-step operation.

Every script receives the same nine keys (see :data:`KEY_SUFFIXES`), all
sharing the queue's hash tag, so each runs on one Redis Cluster slot. Times
arrive as ``ARGV`` strings from the client's clock (never ``TIME``), so tests
can inject a clock and every client of a queue agrees on one time base.

Layout of one queue (``<tag>`` is ``{<namespace>:<queue>}``):

* ``<tag>:ready`` ZSET of waiting tasks (ready and delayed). The score is the
  due time in epoch seconds, exactly as given; the member is a 12-hex-digit
  per-queue sequence number followed by the task id, so tasks with equal due
  times come out in push order (Redis orders equal scores by member).
* ``<tag>:data`` HASH task id -> the same sequence prefix + payload. The
  prefix finds a ready task's member from its id (get, cancel, replace)
  without another hash entry per task.
* ``<tag>:leased`` ZSET task id -> lease deadline.
* ``<tag>:token`` HASH task id -> lease token of the current holder.
* ``<tag>:attempts`` HASH task id -> times reserved.
* ``<tag>:buried`` ZSET task id -> sequence number at burial (listing order
  must not depend on the clock); ``<tag>:reason`` HASH task id -> burial
  time, a space, the reason. A buried task's payload stays in ``data``.
* ``<tag>:seq`` STRING counter for the sequence prefix.
* ``<tag>:notify`` LIST of wake-up tokens for blocked reservers (capped).

A lease is held while its token matches and its deadline lies in the future;
any script that reads the queue first moves expired leases back to ready.
"""

from __future__ import annotations

from typing import Final

#: Key suffixes in the order every script receives them as ``KEYS``.
KEY_SUFFIXES: Final = (
    "ready",
    "leased",
    "data",
    "token",
    "attempts",
    "buried",
    "reason",
    "seq",
    "notify",
)

#: Most wake-up tokens kept in the notify list: enough to wake that many idle
#: workers after a burst, few enough that stale tokens cost little.
NOTIFY_CAP: Final = 64

_PRELUDE = """
local ready, leased, data, token, attempts, buried, reason, seq, notify =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local W = 12

local function nextseq(n)
  local last = redis.call('INCRBY', seq, n)
  return last - n + 1
end

local function fmt(s)
  return string.format('%012x', s)
end

local function enqueue(id, payload, due, s)
  local prefix = fmt(s)
  redis.call('HSET', data, id, prefix .. payload)
  redis.call('ZADD', ready, due, prefix .. id)
end

local function wake(n)
  if n > NOTIFY_CAP then n = NOTIFY_CAP end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  redis.call('RPUSH', notify, unpack(tokens))
  redis.call('LTRIM', notify, 0, NOTIFY_CAP - 1)
end

local function recover(now)
  local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 256)
  local n = #expired / 2
  if n == 0 then return 0 end
  local s = nextseq(n)
  for i = 1, #expired, 2 do
    local id = expired[i]
    local old = redis.call('HGET', data, id)
    redis.call('ZREM', leased, id)
    redis.call('HDEL', token, id)
    if old then
      enqueue(id, string.sub(old, W + 1), expired[i + 1], s)
      s = s + 1
    end
  end
  return n
end

local function held(id, tok, now)
  if redis.call('HGET', token, id) ~= tok then return false end
  local deadline = redis.call('ZSCORE', leased, id)
  return deadline ~= false and tonumber(deadline) > tonumber(now)
end

local function forget(id)
  local old = redis.call('HGET', data, id)
  if not old then return end
  redis.call('ZREM', ready, string.sub(old, 1, W) .. id)
  redis.call('ZREM', leased, id)
  redis.call('ZREM', buried, id)
  redis.call('HDEL', token, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', reason, id)
end
""".replace("NOTIFY_CAP", str(NOTIFY_CAP))

#: ARGV: now, then (id, payload, due-or-empty) per task. Returns the count.
PUSH: Final = (
    _PRELUDE
    + """
local n = (#ARGV - 1) / 3
if n == 0 then return 0 end
local s = nextseq(n)
for i = 2, #ARGV, 3 do
  local id, due = ARGV[i], ARGV[i + 2]
  if due == '' then due = ARGV[1] end
  forget(id)
  enqueue(id, ARGV[i + 1], due, s)
  s = s + 1
end
wake(n)
return n
"""
)

#: ARGV: now, lease seconds, token prefix, count, pop flag ('1' deletes).
#: Returns flat (id, payload, token, attempts) per task, or when nothing is
#: due ``{'', next ready score, next lease deadline}`` (empty when none), so
#: a blocking caller knows how long it may sleep.
RESERVE: Final = (
    _PRELUDE
    + """
local now = ARGV[1]
recover(now)
local due = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
if #due == 0 then
  local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  local l = redis.call('ZRANGE', leased, 0, 0, 'WITHSCORES')
  return {'', r[2] or '', l[2] or ''}
end
local deadline = tonumber(now) + tonumber(ARGV[2])
local out = {}
for i, m in ipairs(due) do
  local id = string.sub(m, W + 1)
  redis.call('ZREM', ready, m)
  local payload = string.sub(redis.call('HGET', data, id), W + 1)
  if ARGV[5] == '1' then
    redis.call('HDEL', data, id)
    redis.call('HDEL', attempts, id)
    out[#out + 1] = id
    out[#out + 1] = payload
  else
    local tok = ARGV[3] .. '.' .. i
    redis.call('ZADD', leased, deadline, id)
    redis.call('HSET', token, id, tok)
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = tok
    out[#out + 1] = redis.call('HINCRBY', attempts, id, 1)
  end
end
return out
"""
)

#: ARGV: now, id, token. Returns 1 when acked, 0 when the lease was lost.
ACK: Final = (
    _PRELUDE
    + """
local id = ARGV[2]
if not held(id, ARGV[3], ARGV[1]) then return 0 end
redis.call('ZREM', leased, id)
redis.call('HDEL', token, id)
redis.call('HDEL', data, id)
redis.call('HDEL', attempts, id)
return 1
"""
)

#: ARGV: now, id, token, has-data flag, data, due-or-empty.
RELEASE: Final = (
    _PRELUDE
    + """
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
local payload = ARGV[5]
if ARGV[4] ~= '1' then payload = string.sub(redis.call('HGET', data, id), W + 1) end
local due = ARGV[6]
if due == '' then due = now end
redis.call('ZREM', leased, id)
redis.call('HDEL', token, id)
enqueue(id, payload, due, nextseq(1))
wake(1)
return 1
"""
)

#: ARGV: now, id, token, reason.
BURY: Final = (
    _PRELUDE
    + """
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
redis.call('ZREM', leased, id)
redis.call('HDEL', token, id)
redis.call('ZADD', buried, nextseq(1), id)
redis.call('HSET', reason, id, now .. ' ' .. ARGV[4])
return 1
"""
)

#: ARGV: now, id, token, lease seconds.
RENEW: Final = (
    _PRELUDE
    + """
local now, id = ARGV[1], ARGV[2]
if not held(id, ARGV[3], now) then return 0 end
redis.call('ZADD', leased, 'XX', tonumber(now) + tonumber(ARGV[4]), id)
return 1
"""
)

#: ARGV: now, id. Removes a waiting (ready or delayed) task; returns its
#: payload, or false when the id is unknown, leased or buried.
TAKE: Final = (
    _PRELUDE
    + """
recover(ARGV[1])
local id = ARGV[2]
local old = redis.call('HGET', data, id)
if not old then return false end
if redis.call('ZREM', ready, string.sub(old, 1, W) .. id) == 0 then return false end
redis.call('HDEL', data, id)
redis.call('HDEL', attempts, id)
return string.sub(old, W + 1)
"""
)

#: ARGV: now. Returns {ready, delayed, reserved, buried}.
STATS: Final = (
    _PRELUDE
    + """
local now = ARGV[1]
recover(now)
local total = redis.call('ZCARD', ready)
local due = redis.call('ZCOUNT', ready, '-inf', now)
return {due, total - due, redis.call('ZCARD', leased), redis.call('ZCARD', buried)}
"""
)

#: No ARGV. Returns flat (id, payload, reason, buried-at string), first buried first.
BURIED: Final = (
    _PRELUDE
    + """
local ids = redis.call('ZRANGE', buried, 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local why = redis.call('HGET', reason, id) or '0 '
  local sp = string.find(why, ' ', 1, true)
  out[#out + 1] = id
  out[#out + 1] = string.sub(redis.call('HGET', data, id) or '', W + 1)
  out[#out + 1] = string.sub(why, sp + 1)
  out[#out + 1] = string.sub(why, 1, sp - 1)
end
return out
"""
)

#: ARGV: now, id, has-data flag, data. Moves a buried task back to ready,
#: due now, attempts from 0, reason dropped; returns 1, or 0 when not buried.
REQUEUE: Final = (
    _PRELUDE
    + """
local now, id = ARGV[1], ARGV[2]
if redis.call('ZREM', buried, id) == 0 then return 0 end
redis.call('HDEL', reason, id)
redis.call('HDEL', attempts, id)
local payload = ARGV[4]
if ARGV[3] ~= '1' then payload = string.sub(redis.call('HGET', data, id) or '', W + 1) end
enqueue(id, payload, now, nextseq(1))
wake(1)
return 1
"""
)

#: ARGV: id, or none for every buried task. Returns how many were deleted.
PURGE: Final = (
    _PRELUDE
    + """
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', buried, 0, -1) end
local n = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', buried, id) == 1 then
    redis.call('HDEL', data, id)
    redis.call('HDEL', reason, id)
    redis.call('HDEL', attempts, id)
    n = n + 1
  end
end
return n
"""
)

#: No ARGV. Deletes every key of the queue.
DROP: Final = (
    _PRELUDE
    + """
return redis.call('DEL', unpack(KEYS))
"""
)
