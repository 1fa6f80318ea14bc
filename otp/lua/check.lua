-- check: compare a code MAC with the stored one, atomically with counting
-- the attempt, so concurrent checks approve at most once and can never push
-- the attempt counter past its limit.
-- KEYS[1] number key (by number) or verification key (by id)
-- ARGV[1] key prefix otp:{tag}:   ARGV[2] mode: "n" by number, "v" by id
-- ARGV[3] id (mode v)             ARGV[4] now (unix ms)
-- ARGV[5] MAC of the submitted code   ARGV[6] max checks
-- ARGV[7] e164 (mode n; a mismatch by id is "not found")
-- Returns {outcome, retry_after_ms, id, fields}
--   outcome  0 not found, 1 approved, 2 wrong code (still pending),
--            3 wrong code that used the last attempt, -1 not pending
--            (status in fields), -3 locked by max checks until it expires
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
  redis.call('DEL', ckey)
  return {1, 0, id, redis.call('HGETALL', vkey)}
end
local checks = redis.call('HINCRBY', vkey, 'checks', 1)
if checks >= tonumber(ARGV[6]) then
  redis.call('HSET', vkey, 'st', 'max_attempts_reached')
  redis.call('DEL', ckey)
  return {3, exp - now, id, redis.call('HGETALL', vkey)}
end
return {2, 0, id, redis.call('HGETALL', vkey)}
