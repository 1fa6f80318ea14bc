-- cancel: end a pending verification; its code dies with it.
-- KEYS[1] verification key  KEYS[2] code key
-- ARGV[1] now (unix ms)
-- Returns {outcome, retry_after_ms, fields}
--   outcome  0 not found, 1 canceled (now or before), -1 finished otherwise,
--            -3 locked by max checks: canceling must not lift the lock
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'st', 'exp')
local st, exp = f[1], tonumber(f[2])
if not st then return {0, 0} end
if st == 'pending' and now >= exp then
  st = 'expired'
  redis.call('HSET', KEYS[1], 'st', st)
  redis.call('DEL', KEYS[2])
end
if st == 'pending' then
  redis.call('HSET', KEYS[1], 'st', 'canceled')
  redis.call('DEL', KEYS[2])
  return {1, 0, redis.call('HGETALL', KEYS[1])}
end
if st == 'canceled' then return {1, 0, redis.call('HGETALL', KEYS[1])} end
if st == 'max_attempts_reached' and now < exp then
  return {-3, exp - now, redis.call('HGETALL', KEYS[1])}
end
return {-1, 0, redis.call('HGETALL', KEYS[1])}
