-- refund: give back the event take.lua took from each limit, for a request
-- that then did nothing (a send the per-number rules refused, a check whose
-- code was right): a client must not spend a shared budget, or its own,
-- with requests that cost nothing.
-- KEYS, ARGV  as given to take.lua
-- Returns the number of limits that gave an event back.
local at = clock(ARGV[1])
local n = 0
for i, key in ipairs(KEYS) do
  local total, c = open(key, tonumber(ARGV[2 * i + 1]), at)
  -- The event to give back is the newest one.
  for b = c, c - BUCKETS, -1 do
    if total <= 0 then break end
    local slot = tostring(b % SLOTS)
    local v = tonumber(redis.call('HGET', key, slot)) or 0
    if v > 0 then
      if v == 1 then redis.call('HDEL', key, slot) else redis.call('HSET', key, slot, v - 1) end
      redis.call('HSET', key, 't', total - 1)
      n = n + 1
      break
    end
  end
end
return n
