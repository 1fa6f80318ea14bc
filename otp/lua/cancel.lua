-- cancel: end a pending verification; its code dies with it.
-- KEYS[1] number hash otp:{tag} (an archived verification's key is built
--         from it: it is only known in here; same hash tag, same slot)
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part   ARGV[4] now (unix ms; "": Redis TIME)
-- Returns {outcome, retry_after_ms, fields}
--   outcome  0 not found, 1 canceled now, 2 canceled before, -1 finished otherwise,
--            -3 locked by max checks: canceling must not lift the lock
local now = clock(ARGV[4])
local V = locate(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local f = redis.call('HMGET', V, 'st', 'cr', 'x')
local st = f[1]
if not st then return {0, 0} end
local exp = tonumber(f[2]) + tonumber(f[3])
if st == 'p' and now >= exp then
  st = 'e'
  redis.call('HSET', V, 'st', st)
  redis.call('HDEL', V, 'h', 'e')
end
if st == 'p' then
  redis.call('HSET', V, 'st', 'c')
  redis.call('HDEL', V, 'h', 'e')
  return {1, 0, view(V)}
end
if st == 'c' then return {2, 0, view(V)} end
if st == 'm' and now < exp then
  return {-3, exp - now, view(V)}
end
return {-1, 0, view(V)}
