-- rollback: undo a start whose task could not be enqueued, so the client's
-- 503 leaves nothing behind (no verification that nobody will ever send, no
-- spent send attempt, no entry in the send log).
-- KEYS[1] number hash otp:{tag} (the replaced verification's archive key
--         is built from ARGV[2]: same hash tag, same slot)
-- ARGV[1] outcome of start (1 created, 2 resent)
-- ARGV[2] key prefix otp:{tag}   ARGV[3] id base "VE"+tag
-- ARGV[4] the id's random part   ARGV[5] sends after start
-- ARGV[6..8] a resend's lo, b, ah from before it ("" absent): a 503 must
--         not leave the message's language, brand or app hash changed
-- Returns 1 when undone, 0 when state moved on meanwhile (left alone).
local N = KEYS[1]
local f = redis.call('HMGET', N, 'r', 'n', 'cr', 'l', 'p', 's')
-- Only while nobody sent again on it: a concurrent request may have queued
-- a send on this verification since.
if f[1] ~= ARGV[4] or f[2] ~= ARGV[5] then return 0 end
local sentAt = tonumber(f[3]) + tonumber(f[4] or 0)
if f[6] then
  local log, found = {}, false
  for _, t in ipairs(readLog(f[6])) do
    if not found and t == sentAt then found = true else log[#log + 1] = t end
  end
  if #log > 0 then redis.call('HSET', N, 's', writeLog(log))
  else redis.call('HDEL', N, 's') end
end
if ARGV[1] == '2' then
  local n = tonumber(ARGV[5])
  -- The send before this one is when attempt n-1 was queued.
  local before = string.match(redis.call('HGET', N, 'a' .. (n - 1)) or '', '^(%d+)|')
  redis.call('HSET', N, 'n', n - 1, 'l', before or 0)
  redis.call('HDEL', N, 'a' .. n, 'i' .. n)
  for i, field in ipairs({'lo', 'b', 'ah'}) do
    local was = ARGV[5 + i]
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
  if not NUMBER_FIELDS[k] and k ~= 'to' then drop[#drop + 1] = k end
end
redis.call('HDEL', N, unpack(drop))
if f[5] then
  local A = ARGV[2] .. ':v:' .. ARGV[3] .. f[5]
  local prev = redis.call('HGETALL', A)
  if #prev > 0 then
    redis.call('HSET', N, unpack(prev))
    redis.call('DEL', A)
  end
end
-- Nothing left but the number itself: no key at all.
if redis.call('HLEN', N) == 1 then redis.call('DEL', N) end
return 1
