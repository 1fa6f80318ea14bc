-- refund: give back the event take.lua took from each limit, for a request
-- that then cost nothing (a send the per-number rules refused, a check whose
-- code was right): a client must not spend a shared budget, or its own,
-- with requests that sent nothing. It is taken out of the very bucket take
-- put it in: another bucket would make the remaining events look older or
-- younger than they are, and the window would let one too many through.
-- KEYS     as given to take.lua
-- ARGV[1]  now in unix ms, or "" for the Redis server's clock
-- ARGV[2]  the time take.lua took at (its answer's second element)
-- ARGV[2i+1], ARGV[2i+2]  the i-th limit's count and period (ms)
-- Returns the number of limits that gave an event back (a bucket that has
-- left the window meanwhile holds nothing to give back).
local at, taken = clock(ARGV[1]), tonumber(ARGV[2])
local n = 0
for i, key in ipairs(KEYS) do
  local total, c, w = open(key, tonumber(ARGV[2 * i + 2]), at)
  local b = math.floor(taken / w)
  local slot = tostring(b % SLOTS)
  local v = tonumber(redis.call('HGET', key, slot)) or 0
  if b >= c - BUCKETS and b <= c and v > 0 and total > 0 then
    if v == 1 then redis.call('HDEL', key, slot) else redis.call('HSET', key, slot, v - 1) end
    redis.call('HSET', key, 't', total - 1)
    n = n + 1
  end
end
return n
