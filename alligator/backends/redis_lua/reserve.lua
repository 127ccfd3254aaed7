-- keys: ready, delayed, data, leased, meta, buried, seq, notify, prio, blocked, edges
--
-- Claim and settle. KEYS: the fixed keys above, then one index bucket per
-- task acked, then (with outcomes) one result key per task acked. ARGV: now
-- ('' for the server's clock), lease seconds, token prefix, count, outcome
-- lifetime in ms ('' for plain acks), then (id, token) per task to ack, or
-- (id, token, outcome) with outcomes: each ack then keeps the outcome and
-- releases the task's dependents, as complete does, and a dependent
-- released here can be claimed by this same call. Returns {ack flags,
-- tasks, next delayed score, next lease deadline, now}: tasks flat as (id,
-- payload, token, attempts); the scores (strings, empty when none) and the
-- time of the call only when no task was due, so a blocking caller knows
-- how long it may sleep.
--
-- Every entry taken from `ready` is checked before anything is written for
-- it: one field (the task id, not empty, valid UTF-8, not a task the queue
-- already holds elsewhere) and its payload. A malformed entry is buried as
-- `corrupt:<n>` with the reason, and the batch goes on with the next entry,
-- burying at most about a hundred per call. The acks come first, so the
-- structures holding leases stay small (and compactly encoded).
--
-- Priorities: tasks of priority 0 are the entries of `ready`; the others wait
-- in `prio`, scored by priority. A claim takes the negative ones first, then
-- `ready`, then the positive ones, each in its own order, so the merge is
-- exact. A queue whose `prio` does not exist pays one ZCARD for it.
local now = clock(ARGV[1])
local flags = {}
local ms = ARGV[5]
local stride = 2
if ms ~= '' then stride = 3 end
local acks = (#ARGV - 5) / stride
-- Many tasks in flight: settle and lease them in hash tables (see roomy).
local wide = acks + tonumber(ARGV[4]) > 64
if wide then roomy(true) end
-- Only a queue with dependents waiting has edges to look through.
local graph = stride == 3 and redis.call('EXISTS', edges) == 1
for i = 1, acks do
  local at = 5 + stride * (i - 1)
  local id, tok = ARGV[at + 1], ARGV[at + 2]
  if held(id, tok, now) then
    settle(id, KEYS[NK + i])
    if stride == 3 then
      keep(KEYS[NK + acks + i], 'S', ARGV[at + 3], ms)
      if graph then freed(id, now) end
    end
    flags[i] = 1
  else
    flags[i] = 0
  end
end
local count = tonumber(ARGV[4])
local out = {}
local more = false
local budget, taken, deadline = count + 100, 0, 0
-- Leases a task whose payload is in `data` now, with the batch's token.
local function lease(id, payload)
  taken = taken + 1
  local tok = ARGV[3] .. '.' .. taken
  redis.call('ZADD', leased, deadline, id)
  redis.call('HSET', meta, 't:' .. id, tok)
  local attempts = redis.pcall('HINCRBY', meta, 'a:' .. id, 1)
  if type(attempts) ~= 'number' then
    redis.call('HSET', meta, 'a:' .. id, 1)
    attempts = 1
  end
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = tok
  out[#out + 1] = attempts
end
-- Leases the first members of `prio` scored from `lo` to `hi`. A member that
-- names no ready task of its priority (its `data` entry has another prefix)
-- is buried as malformed.
local function ranked(lo, hi)
  while taken < count and budget > 0 do
    local got = redis.call(
      'ZRANGEBYSCORE', prio, lo, hi, 'WITHSCORES', 'LIMIT', 0, count - taken)
    if #got == 0 then return end
    local members = {}
    for k = 1, #got, 2 do
      local m = got[k]
      members[#members + 1] = m
      budget = budget - 1
      local prefix, id = string.sub(m, 1, W), string.sub(m, W + 1)
      local old = #m > W and prefix ~= PAD and redis.call('HGET', data, id)
      if old and string.sub(old, 1, W) == prefix and utf8ok(id) then
        local payload = string.sub(old, W + 1)
        redis.call('HSET', data, id, PAD .. payload)
        -- Leased, it keeps its priority beside its token, for a release or a lost lease.
        redis.call('HSET', meta, 'p:' .. id, got[k + 1])
        lease(id, payload)
      elseif old and string.sub(old, 1, W) == prefix then
        quarantine('prio entry: task id is not UTF-8: ' .. show(id), string.sub(old, W + 1), now)
        redis.call('HDEL', data, id)
        redis.call('HDEL', meta, 'p:' .. id)
      else
        quarantine('prio entry: member ' .. show(m) .. ' names no ready task', '', now)
      end
    end
    redis.call('ZREM', prio, unpack(members))
  end
end
if count > 0 then
  migrate(now)
  recover(now)
  deadline = tonumber(now) + tonumber(ARGV[2])
  local ranks = redis.call('ZCARD', prio) > 0
  if ranks then ranked('-inf', '(0') end
  while taken < count and budget > 0 do
    local got = redis.call('XRANGE', ready, '-', '+', 'COUNT', count - taken)
    if #got == 0 then break end
    for _, e in ipairs(got) do
      budget = budget - 1
      local f = e[2]
      local id, payload = f[1], f[2] or ''
      local bad
      if #f ~= 2 then
        bad = (#f / 2) .. ' fields, not one task id with its payload'
      elseif id == '' then
        bad = 'empty task id'
      elseif not utf8ok(id) then
        bad = 'task id is not UTF-8: ' .. show(id)
      elseif redis.call('HSETNX', data, id, PAD .. payload) == 0 then
        bad = 'task id ' .. show(id) .. ' is already in the queue'
      end
      if bad then
        if #f ~= 2 then payload = table.concat(f, '\n') end
        quarantine('ready entry ' .. e[1] .. ': ' .. bad, payload, now)
      else
        lease(id, payload)
      end
    end
    consumed(#got, got[#got][1])
  end
  if ranks then ranked('(0', '+inf') end
  more = budget <= 0 and taken < count
end
if wide then roomy(false) end
if #out > 0 or count < 1 then return {flags, out} end
local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
local l = redis.call('ZRANGE', leased, 0, 0, 'WITHSCORES')
-- Malformed entries used up the budget: the caller should call again now.
if more then d = {'', now} end
return {flags, {}, d[2] or '', l[2] or '', now}
