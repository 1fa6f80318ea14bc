-- start: create a verification for a number, or resend its pending one.
-- KEYS[1] number hash otp:{tag} (keys.go lists its fields). A finished
--         verification that a new one replaces moves to otp:{tag}:v:<id>,
--         built in here from ARGV[1]: same hash tag, same slot.
-- ARGV[1] key prefix otp:{tag}    ARGV[2] id base "VE"+tag
-- ARGV[3] new id's random part    ARGV[4] now (unix ms; "": Redis TIME)
-- ARGV[5] ttl ms                  ARGV[6] retention ms  ARGV[7] max sends
-- ARGV[8] cooldown ms             ARGV[9] code MAC      ARGV[10] sealed code
-- ARGV[11] e164                   ARGV[12] channel
-- ARGV[13] sends allowed per window (0 off)   ARGV[14] that window ms
-- ARGV[15] failed checks that lock the number (0 off)
-- ARGV[16] locale asked for ("" none)   ARGV[17] brand key ("" default)
-- ARGV[18] app hash ("" none): how the worker writes the message; a resend
--          that gives them replaces them
-- ARGV[19] the number's country's locale, a new verification's when
--          ARGV[16] is ""
-- ARGV[20] a new verification's fallback workflow, its steps' channels as
--          letters (common.lua's WORKFLOW; "" none; a resend ignores it)
-- ARGV[21] its channel timeout ms
-- ARGV[22] with a workflow, who asked ("apiKeyId|clientIp"), whose limits
--          its later steps count against
-- Each send attempt n gets field a<n> (attempt.lua) with its channel.
-- Returns {outcome, retry_after_ms, id, fields, before}
--   outcome  1 created, 2 resent, -1 cooldown, -2 max sends, -3 max checks,
--            -4 number locked by failed checks, -5 rolling send cap,
--            -9 another number has this hash tag, or an archived
--               verification has the new id (refused, nothing touched; the
--               caller may retry with a new id)
--   id, fields  the verification's id and fields (absent on refusals)
--   before   on a resend, {lo, b, ah} as they were ("" absent),
--            which rollback.lua puts back
-- Each send attempt n gets field a<n> (see attempt.lua for its format).
local N, now = KEYS[1], clock(ARGV[4])
local f = redis.call('HMGET', N, 'to', 'r', 'st', 'n', 'k', 'cr', 'x', 'l', 'f', 's')
local cur, st = f[2], f[3]
if f[1] and f[1] ~= ARGV[11] then return {-9, 0} end
if cur == ARGV[3] then
  -- A replay of this very call (its reply was lost): answer as it did.
  return {1, 0, ARGV[2] .. cur, view(N)}
end
local lockAt = tonumber(ARGV[15])
if lockAt > 0 then
  local fc, fe = failures(f[9], now)
  if fc >= lockAt then return {-4, fe - now} end
end

local capped, logSend = sendCap(N, f[10], now, tonumber(ARGV[13]), tonumber(ARGV[14]))

-- setMessage keeps what the worker needs to write the message. English,
-- the locale of most verifications, is the absence of the field (keys.go):
-- 32 bytes less per verification, as the hash's listpack drops to the
-- allocator's next smaller size. Every earlier build reads it so too.
local function setMessage(new)
  local lo = ARGV[16]
  if lo == '' and new then lo = ARGV[19] end
  if lo == 'en' then
    if not new then redis.call('HDEL', N, 'lo') end
  elseif lo ~= '' then
    redis.call('HSET', N, 'lo', lo)
  end
  if ARGV[17] ~= '' then redis.call('HSET', N, 'b', ARGV[17]) end
  if ARGV[18] ~= '' then redis.call('HSET', N, 'ah', ARGV[18]) end
end

local carried = 0
if cur then
  local cr = tonumber(f[6])
  local exp, last = cr + tonumber(f[7]), cr + tonumber(f[8] or 0)
  if st == 'p' and now < exp then
    local sends = tonumber(f[4])
    if sends >= tonumber(ARGV[7]) then return {-2, exp - now} end
    local wait = last + tonumber(ARGV[8]) - now
    if wait > 0 then return {-1, wait} end
    local capWait = capped()
    if capWait > 0 then return {-5, capWait} end
    logSend()
    local at = now - cr
    -- What the resend replaces, for a rollback to put back.
    local before = redis.call('HMGET', N, 'lo', 'b', 'ah')
    redis.call('HSET', N, 'n', sends + 1, 'l', at, 'a' .. (sends + 1), newAttempt(at, CHANNEL[ARGV[12]] or ''))
    setMessage(false)
    return {2, 0, ARGV[2] .. cur, view(N), {before[1] or '', before[2] or '', before[3] or ''}}
  end
  if st == 'm' and now < exp then
    -- A new code must not reset the failure count: the number stays locked
    -- until the dead verification would have expired.
    return {-3, exp - now}
  end
  -- The cooldown is per number, not per verification: cancel-and-restart
  -- must not become a way to text a number in a loop.
  local wait = last + tonumber(ARGV[8]) - now
  if wait > 0 then return {-1, wait} end
  -- Canceling must not refill the wrong-code budget: a new verification
  -- inherits the failures of a canceled one whose time is not up.
  if st == 'c' and now < exp then carried = tonumber(f[5]) or 0 end
end
local capWait = capped()
if capWait > 0 then return {-5, capWait} end
-- The id is the sealed code's nonce: it must never have been used.
if redis.call('EXISTS', ARGV[1] .. ':v:' .. ARGV[2] .. ARGV[3]) == 1 then return {-9, 0} end

local ttl, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
if cur then
  -- Archive the finished verification, without its code, for the rest of
  -- its retention; the number hash keeps only the number's own fields.
  local all = redis.call('HGETALL', N)
  local A = ARGV[1] .. ':v:' .. ARGV[2] .. cur
  local keep, drop = {}, {}
  local cr, x = tonumber(f[6]), tonumber(f[7])
  for i = 1, #all, 2 do
    local k, v = all[i], all[i + 1]
    if k == 'st' and v == 'p' then v = 'e' end
    if not NUMBER_FIELDS[k] then
      if k ~= 'to' then drop[#drop + 1] = k end
      if k ~= 'h' and k ~= 'e' and k ~= 'p' then
        keep[#keep + 1] = k
        keep[#keep + 1] = v
      end
    end
  end
  redis.call('HDEL', N, unpack(drop))
  local left = cr + x + retention - now
  if left > 0 then
    redis.call('HSET', A, unpack(keep))
    redis.call('PEXPIRE', A, left)
  end
end
logSend()
-- k and l are still written at 0: builds before December 2026 cannot read
-- them absent, and may run beside this one during a rolling upgrade.
local v = {'to', ARGV[11], 'r', ARGV[3], 'st', 'p', 'n', 1, 'k', carried,
  'cr', now, 'x', ttl, 'l', 0, 'a1', newAttempt(0, CHANNEL[ARGV[12]] or ''), 'h', ARGV[9], 'e', ARGV[10]}
-- p: the replaced verification, so that a rollback can bring it back.
if cur then v[#v + 1] = 'p'; v[#v + 1] = cur end
if ARGV[20] ~= '' then
  -- The first step of the workflow is this send.
  local w = {'wf', ARGV[20], 'wt', ARGV[21], 'ws', 1, 'w1', 'a|1|0||', 'og', ARGV[22]}
  for _, x in ipairs(w) do v[#v + 1] = x end
end
redis.call('HSET', N, unpack(v))
setMessage(true)
keepFor(N, ttl + retention)
return {1, 0, ARGV[2] .. ARGV[3], view(N)}
