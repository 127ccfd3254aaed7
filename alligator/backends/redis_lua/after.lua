-- keys: ready, delayed, data, seq, notify, leased, meta, buried, prio, blocked, edges, doomed
--
-- ResultClient.push_after: store tasks, each blocked until every task it
-- depends on succeeded; all or nothing. KEYS: the fixed keys above, one
-- index bucket per task, then per dependency named (distinct, in ARGV
-- order) its index bucket and its result key. ARGV: now ('' for the
-- server's clock), task count n, dependency count m, the m dependency ids,
-- then per task: id, payload, due-or-empty, k, and the positions (1 to m)
-- of its k dependencies. Returns n, or having changed nothing {'missing',
-- id, dependency} (neither in the queue, nor an earlier task of the call,
-- nor with a stored outcome) or {'busy', id} (its lease runs).
--
-- A dependency is pending while the queue holds it (not buried) or it is
-- an earlier task of the call; failed when buried, when its outcome says
-- so, or (no outcome stored yet) when a failure buried it (see doom);
-- done when its outcome says it succeeded. A task with a failed dependency
-- is buried at once; one with pending ones waits in `blocked`, with one
-- pair of `edges` per dependency (see detach); any other is stored as by
-- push. A task's id the queue holds already is replaced.
local now = clock(ARGV[1])
local n, m = tonumber(ARGV[2]), tonumber(ARGV[3])
local names, standing = {}, {}
for j = 1, m do
  local p = ARGV[3 + j]
  local pushed = redis.call('HGET', KEYS[NK + n + 2 * j - 1], p)
  local s = 'missing'
  if redis.call('HEXISTS', blocked, p) == 1 then
    s = 'pending'
  elseif redis.call('ZSCORE', buried, p) then
    s = 'failed'
  elseif redis.call('HEXISTS', data, p) == 1 or (pushed and locate(p, pushed)) then
    s = 'pending'
  else
    local o = redis.call('LINDEX', KEYS[NK + n + 2 * j], 0)
    if o then
      s = 'done'
      if string.sub(o, 1, 1) == 'F' then s = 'failed' end
    else
      local expires = redis.call('ZSCORE', doomed, p)
      if expires and tonumber(expires) > tonumber(now) then s = 'failed' end
    end
  end
  names[j], standing[p] = p, s
end
local items, at = {}, 4 + m
for i = 1, n do
  local k = tonumber(ARGV[at + 3])
  local deps = {}
  for x = 1, k do deps[x] = names[tonumber(ARGV[at + 3 + x])] end
  items[i] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], deps}
  at = at + 4 + k
end
local earlier = {}
for _, it in ipairs(items) do
  for _, p in ipairs(it[4]) do
    if not earlier[p] and standing[p] == 'missing' then return {'missing', it[1], p} end
  end
  local deadline = redis.call('ZSCORE', leased, it[1])
  if deadline and tonumber(deadline) > tonumber(now) then return {'busy', it[1]} end
  earlier[it[1]] = true
end
migrate(now)
local woken = 0
for i, it in ipairs(items) do
  local id, payload, due, deps = it[1], it[2], it[3], it[4]
  local index = KEYS[NK + i]
  local pushed = redis.call('HGET', index, id)
  if pushed then forget(id, pushed) end
  local pending, failed = {}, nil
  for _, p in ipairs(deps) do
    if standing[p] == 'pending' then
      pending[#pending + 1] = p
    elseif standing[p] == 'failed' and not failed then
      failed = p
    end
  end
  local where = ''
  if failed then
    redis.call('HSET', data, id, PAD .. payload)
    inter(id, 'dependency ' .. failed .. ' failed', now)
    standing[id] = 'failed'
  elseif #pending > 0 then
    redis.call('HSET', blocked, id, due .. ',' .. payload)
    for _, p in ipairs(pending) do
      redis.call('ZADD', edges, 0, p .. '\255' .. id, 0, id .. '\254' .. p)
    end
    standing[id] = 'pending'
  else
    where = store(id, payload, due, now, nextseq(1))
    woken = woken + 1
    standing[id] = 'pending'
  end
  redis.call('HSET', index, id, where)
end
if woken > 0 then wake(woken) end
return n
