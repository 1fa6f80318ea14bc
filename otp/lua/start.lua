-- start: create a verification for a number, or resend the pending one.
-- KEYS[1] number key        otp:{tag}:n:<e164>
-- KEYS[2] new verification  otp:{tag}:v:<new id>
-- KEYS[3] new code key      otp:{tag}:c:<new id>
-- KEYS[4] number's sends    otp:{tag}:s:<e164>  zset of send times (rolling cap)
-- KEYS[5] number's failures otp:{tag}:f:<e164>  "count|windowEnd" (see check.lua)
-- ARGV[1] key prefix otp:{tag}:   ARGV[2] new id       ARGV[3] now (unix ms)
-- ARGV[4] ttl ms                  ARGV[5] retention ms ARGV[6] max sends
-- ARGV[7] cooldown ms             ARGV[8] code MAC     ARGV[9] sealed code
-- ARGV[10] e164                   ARGV[11] channel
-- ARGV[12] sends allowed per window (0 off)   ARGV[13] that window ms
-- ARGV[14] failed checks that lock the number (0 off)
-- Returns {outcome, retry_after_ms, id, fields, undo}
--   outcome  1 created, 2 resent, -1 cooldown, -2 max sends, -3 max checks,
--            -4 number locked by failed checks, -5 rolling send cap
--   undo     what rollback needs: created -> the previous id or "";
--            resent -> the previous last-send time
-- Each send attempt n gets field a<n> (see attempt.lua for its format).
--   id, fields  the verification's id and HGETALL (absent on refusals)
local now = tonumber(ARGV[3])

-- failures returns the number's failed-check count and the end of its window.
local function failures(key)
  local v = redis.call('GET', key)
  if not v then return 0, 0 end
  local c, e = string.match(v, '^(%d+)|(%d+)$')
  c, e = tonumber(c), tonumber(e)
  if not c or now >= e then return 0, 0 end
  return c, e
end
-- capped prunes the number's send log and returns how long until another
-- send fits under the rolling cap (0: it fits now).
local function capped()
  local cap, window = tonumber(ARGV[12]), tonumber(ARGV[13])
  if cap <= 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
  if redis.call('ZCARD', KEYS[4]) < cap then return 0 end
  local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
local function logSend(member)
  local window = tonumber(ARGV[13])
  if tonumber(ARGV[12]) <= 0 then return end
  redis.call('ZADD', KEYS[4], now, member)
  redis.call('PEXPIRE', KEYS[4], window)
end

local cur = redis.call('GET', KEYS[1])
if cur == ARGV[2] then
  -- A replay of this very call (its reply was lost): answer as it did.
  return {1, 0, cur, redis.call('HGETALL', KEYS[2]), ''}
end
local lockAt = tonumber(ARGV[14])
if lockAt > 0 then
  local fc, fe = failures(KEYS[5])
  if fc >= lockAt then return {-4, fe - now} end
end
local prev = ''
local carried = 0
if cur then
  prev = cur
  local vkey = ARGV[1] .. 'v:' .. cur
  local ckey = ARGV[1] .. 'c:' .. cur
  local f = redis.call('HMGET', vkey, 'st', 'exp', 'sends', 'last', 'checks', 'cr')
  local st, exp = f[1], tonumber(f[2])
  if st == 'pending' and exp and now < exp and redis.call('EXISTS', ckey) == 1 then
    local sends, last = tonumber(f[3]), tonumber(f[4])
    if sends >= tonumber(ARGV[6]) then
      return {-2, exp - now}
    end
    local wait = last + tonumber(ARGV[7]) - now
    if wait > 0 then
      return {-1, wait}
    end
    local capWait = capped()
    if capWait > 0 then return {-5, capWait} end
    logSend(cur .. ':' .. (sends + 1))
    redis.call('HSET', vkey, 'sends', sends + 1, 'last', now, 'a' .. (sends + 1), (now - tonumber(f[6])) .. '||0|q|0|' .. (now - tonumber(f[6])) .. '|')
    return {2, 0, cur, redis.call('HGETALL', vkey), f[4]}
  end
  if st == 'max_attempts_reached' and exp and now < exp then
    -- A new code must not reset the failure count: the number stays locked
    -- until the dead verification would have expired.
    return {-3, exp - now}
  end
  -- The cooldown is per number, not per verification: cancel-and-restart
  -- must not become a way to text a number in a loop.
  local last = tonumber(f[4])
  if last then
    local wait = last + tonumber(ARGV[7]) - now
    if wait > 0 then
      return {-1, wait}
    end
  end
  if st == 'pending' then
    redis.call('HSET', vkey, 'st', 'expired')
    redis.call('DEL', ckey)
  end
  -- Canceling must not refill the wrong-code budget: a new verification
  -- inherits the failures of a canceled one whose time is not up.
  if st == 'canceled' and exp and now < exp then
    carried = tonumber(f[5]) or 0
  end
end
local capWait = capped()
if capWait > 0 then return {-5, capWait} end
logSend(ARGV[2] .. ':1')
local ttl = tonumber(ARGV[4])
local keep = ttl + tonumber(ARGV[5])
redis.call('HSET', KEYS[2], 'to', ARGV[10], 'ch', ARGV[11], 'st', 'pending',
  'sends', 1, 'checks', carried, 'cr', now, 'exp', now + ttl, 'last', now,
  'a1', '0||0|q|0|0|')
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('HSET', KEYS[3], 'h', ARGV[8], 'e', ARGV[9])
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('SET', KEYS[1], ARGV[2], 'PX', keep)
return {1, 0, ARGV[2], redis.call('HGETALL', KEYS[2]), prev}
