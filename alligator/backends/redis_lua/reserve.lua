-- keys: ready, delayed, data, leased, meta, buried, seq, notify, blocked, edges
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
local now = clock(ARGV[1])
local flags = {}
local ms = ARGV[5]
local stride = 2
if ms ~= '' then stride = 3 end
local acks = (#ARGV - 5) / stride
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
if count > 0 then
  migrate(now)
  recover(now)
  local deadline = tonumber(now) + tonumber(ARGV[2])
  local budget = count + 100
  local taken = 0
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
    end
    consumed(#got, got[#got][1])
  end
  more = budget <= 0 and taken < count
end
if #out > 0 or count < 1 then return {flags, out} end
local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
local l = redis.call('ZRANGE', leased, 0, 0, 'WITHSCORES')
-- Malformed entries used up the budget: the caller should call again now.
if more then d = {'', now} end
return {flags, {}, d[2] or '', l[2] or '', now}
