-- check: compare a code MAC with the stored one, atomically with counting
-- the attempt, so concurrent checks approve at most once and can never push
-- the attempt counter past its limit.
-- KEYS[1] number key (by number) or verification key (by id)
-- The number's failure counter otp:{tag}:f:<e164> ("count|windowEnd") is
-- built from the prefix: by id, the number is only known inside the script.
-- It counts wrong codes across verifications (a new code does not reset
-- it); at ARGV[8] failures the number is locked until the window ends, and
-- a right code clears it.
-- ARGV[1] key prefix otp:{tag}:   ARGV[2] mode: "n" by number, "v" by id
-- ARGV[3] id (mode v)             ARGV[4] now (unix ms)
-- ARGV[5] MAC of the submitted code   ARGV[6] max checks
-- ARGV[7] e164 (mode n; a mismatch by id is "not found")
-- ARGV[8] failures that lock the number (0 off)  ARGV[9] failure window ms
-- Returns {outcome, retry_after_ms, id, fields}
--   outcome  0 not found, 1 approved, 2 wrong code (still pending),
--            3 wrong code that used the last attempt, -1 not pending
--            (status in fields), -3 locked by max checks until it expires,
--            -4 number locked by failed checks (retry_after_ms: window end)
local now = tonumber(ARGV[4])
local id = ARGV[3]
if ARGV[2] == 'n' then
  id = redis.call('GET', KEYS[1])
  if not id then return {0, 0} end
end
local vkey = ARGV[1] .. 'v:' .. id
local ckey = ARGV[1] .. 'c:' .. id
local f = redis.call('HMGET', vkey, 'st', 'exp', 'to')
local st, exp = f[1], tonumber(f[2])
if not st or (ARGV[7] ~= '' and f[3] ~= ARGV[7]) then return {0, 0} end
local fkey = ARGV[1] .. 'f:' .. f[3]
local lockAt = tonumber(ARGV[8])
local fc, fe = 0, 0
local fv = redis.call('GET', fkey)
if fv then
  local c, e = string.match(fv, '^(%d+)|(%d+)$')
  c, e = tonumber(c), tonumber(e)
  if c and now < e then fc, fe = c, e end
end
if lockAt > 0 and fc >= lockAt then
  return {-4, fe - now, id, redis.call('HGETALL', vkey)}
end
local h = redis.call('HGET', ckey, 'h')
if st == 'pending' and (now >= exp or not h) then
  st = 'expired'
  redis.call('HSET', vkey, 'st', st)
  redis.call('DEL', ckey)
end
if st ~= 'pending' then
  if st == 'max_attempts_reached' and now < exp then
    return {-3, exp - now, id, redis.call('HGETALL', vkey)}
  end
  return {-1, 0, id, redis.call('HGETALL', vkey)}
end
if h == ARGV[5] then
  redis.call('HSET', vkey, 'st', 'approved')
  redis.call('DEL', ckey, fkey)
  return {1, 0, id, redis.call('HGETALL', vkey)}
end
if lockAt > 0 then
  if fc == 0 then fe = now + tonumber(ARGV[9]) end
  redis.call('SET', fkey, (fc + 1) .. '|' .. fe, 'PX', math.max(fe - now, 1))
end
local checks = redis.call('HINCRBY', vkey, 'checks', 1)
if checks >= tonumber(ARGV[6]) then
  redis.call('HSET', vkey, 'st', 'max_attempts_reached')
  redis.call('DEL', ckey)
  return {3, exp - now, id, redis.call('HGETALL', vkey)}
end
return {2, 0, id, redis.call('HGETALL', vkey)}
