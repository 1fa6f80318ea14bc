-- rollback: undo a start whose delivery could not be queued, so the
-- client's 503 leaves nothing behind (no verification that nobody will
-- ever send, no spent send attempt, no entry in the send log).
-- KEYS[1] the tenant's record of the number (start.lua; the replaced
--         verification's archive key is built from the prefix: same hash
--         tag, same slot)
-- KEYS[2] the number hash otp:{tag}, with the send log every tenant shares
-- ARGV    see the locals below
-- Returns 1 when undone, 0 when state moved on meanwhile (left alone), 2
-- when a worker already claimed the send (left alone: the message is on
-- its way, and undoing it would refund a send that went).
local N = KEYS[1]
local G = KEYS[2]
local created = ARGV[1] == OUT.created -- start's outcome: created or resent
local prefix = ARGV[2]          -- key prefix otp:{tag}
local idBase = ARGV[3]          -- "VE" + tag
local rand = ARGV[4]            -- the id's random part
local sends = ARGV[5]           -- sends after start
local before = {ARGV[6], ARGV[7], ARGV[8]} -- a resend's locale, brand and
                                -- app hash from before it ("" absent): a
                                -- 503 must not leave them changed
local f = redis.call('HMGET', N, F.rand, F.sends, F.created, F.lastSend, F.previous, F.sendLog)
if G ~= N then f[6] = redis.call('HGET', G, F.sendLog) end
-- Only while nobody sent again on it: a concurrent request may have queued
-- a send on this verification since.
if f[1] ~= rand or f[2] ~= sends then return 0 end
-- The attempt's record starts "queued|claimed|": claimed is digits once a
-- worker took it.
if string.match(redis.call('HGET', N, F.attempt .. sends) or '', '^[^|]*|%d') then return 2 end
local sentAt = tonumber(f[3]) + tonumber(f[4] or 0)
if f[6] then
  local log, found = {}, false
  for _, t in ipairs(readLog(f[6])) do
    if not found and t == sentAt then found = true else log[#log + 1] = t end
  end
  if #log > 0 then redis.call('HSET', G, F.sendLog, writeLog(log))
  else redis.call('HDEL', G, F.sendLog) end
end
if not created then
  local n = tonumber(sends)
  -- The send before this one is when attempt n-1 was queued.
  local prev = string.match(redis.call('HGET', N, F.attempt .. (n - 1)) or '', '^(%d+)|')
  redis.call('HSET', N, F.sends, n - 1, F.lastSend, prev or 0)
  redis.call('HDEL', N, F.attempt .. n, F.sid .. n)
  for i, field in ipairs({F.locale, F.brand, F.appHash}) do
    local was = before[i]
    if was and was ~= '' then redis.call('HSET', N, field, was)
    elseif was then redis.call('HDEL', N, field) end
  end
  return 1
end
-- created: drop the verification, and bring back the one it replaced.
local all = redis.call('HGETALL', N)
local drop = {}
for i = 1, #all, 2 do
  local k = all[i]
  if not NUMBER_FIELDS[k] and k ~= F.to then drop[#drop + 1] = k end
end
redis.call('HDEL', N, unpack(drop))
if f[5] then
  local A = archiveKey(prefix, idBase, f[5])
  local prev = redis.call('HGETALL', A)
  if #prev > 0 then
    redis.call('HSET', N, unpack(prev))
    redis.call('DEL', A)
  end
end
-- Nothing left but the number itself: no key at all.
if redis.call('HLEN', N) == 1 then redis.call('DEL', N) end
return 1
