-- check: compare a code MAC with the stored one, atomically with counting
-- the attempt, so concurrent checks approve at most once and can never push
-- the attempt counter past its limit.
-- KEYS[1] number hash otp:{tag}; by id, a verification that was replaced
--         is read from its archive key, built from ARGV[1] (same slot).
-- The number's wrong codes ('f', "count|windowEnd") count across
-- verifications (a new code does not reset them) until a window (ARGV[9])
-- passes without one; at ARGV[8] of them the number is locked until then,
-- and a right code clears them.
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part ("" by number)   ARGV[4] now (unix ms; "": Redis TIME)
-- ARGV[5] MAC of the submitted code   ARGV[6] max checks
-- ARGV[7] e164 ("" by id)
-- ARGV[8] failures that lock the number (0 off)  ARGV[9] failure window ms
-- Returns {outcome, retry_after_ms, id, fields, locked}
--   outcome  0 not found, 1 approved, 2 wrong code (still pending),
--            3 wrong code that used the last attempt, -1 not pending
--            (status in fields), -3 locked by max checks until it expires,
--            -4 number locked by failed checks (retry_after_ms: window end)
--   locked   1 when this wrong code locked the number (ARGV[8] reached)
-- A right code also ends the workflow's current step as the one that
-- converted (common.lua's setStep).
local N, now = KEYS[1], clock(ARGV[4])
local f = redis.call('HMGET', N, 'to', 'r', 'st', 'cr', 'x', 'h', 'f')
if ARGV[7] ~= '' and f[1] ~= ARGV[7] then return {0, 0} end
local V, r, st, cr, x = N, f[2], f[3], f[4], f[5]
if ARGV[3] ~= '' and r ~= ARGV[3] then
  V, r = ARGV[1] .. ':v:' .. ARGV[2] .. ARGV[3], ARGV[3]
  local g = redis.call('HMGET', V, 'st', 'cr', 'x')
  st, cr, x = g[1], g[2], g[3]
end
if not st then return {0, 0} end
local id = ARGV[2] .. r
local exp = tonumber(cr) + tonumber(x)
local lockAt = tonumber(ARGV[8])
local fc, fe = failures(f[7], now)
if lockAt > 0 and fc >= lockAt then
  return {-4, fe - now, id, view(V)}
end
if st == 'p' and (now >= exp or (V == N and not f[6])) then
  st = 'e'
  redis.call('HSET', V, 'st', st)
  redis.call('HDEL', V, 'h', 'e')
end
if st ~= 'p' then
  if st == 'm' and now < exp then
    return {-3, exp - now, id, view(V)}
  end
  return {-1, 0, id, view(V)}
end
-- Only the current verification can be pending: V is the number hash.
if f[6] == ARGV[5] then
  redis.call('HSET', N, 'st', 'a')
  redis.call('HDEL', N, 'h', 'e', 'f')
  local ws = redis.call('HGET', N, 'ws')
  local rec = ws and redis.call('HGET', N, 'w' .. ws)
  if rec and string.sub(rec, 1, 1) == 'a' then
    local s = split(rec)
    setStep(N, ws, 'v', s[2], s[3], now - tonumber(cr), '')
  end
  return {1, 0, id, view(N)}
end
local locked = 0
if lockAt > 0 then
  -- The count lives until a whole window passes without a wrong code: a
  -- window that began at the first failure let N-1 before its end and N
  -- more after, about twice the limit in a row.
  fe = now + tonumber(ARGV[9])
  redis.call('HSET', N, 'f', (fc + 1) .. '|' .. fe)
  keepFor(N, fe - now)
  if fc + 1 == lockAt then locked = 1 end
end
local checks = redis.call('HINCRBY', N, 'k', 1)
if checks >= tonumber(ARGV[6]) then
  redis.call('HSET', N, 'st', 'm')
  redis.call('HDEL', N, 'h', 'e')
  return {3, exp - now, id, view(N), locked}
end
return {2, 0, id, view(N), locked}
