-- refund: give back the event take.lua took from each limit, for a request
-- that then cost nothing (a send the per-number rules refused, a check whose
-- code was right): a client must not spend a shared budget, or its own,
-- with requests that sent nothing. Each goes back to the bucket take put it
-- in (window.lua's giveBack).
-- KEYS     as given to take.lua
-- ARGV[1]  now in unix ms, or "" for the Redis server's clock
-- ARGV[2]  the time take.lua took at (its answer's second element)
-- ARGV[2i+1], ARGV[2i+2]  the i-th limit's count and period (ms)
-- Returns the number of limits that gave an event back (a bucket that has
-- left the window meanwhile holds nothing to give back).
local at, taken = clock(ARGV[1]), tonumber(ARGV[2])
local n = 0
for i, key in ipairs(KEYS) do
  n = n + giveBack(key, tonumber(ARGV[2 * i + 2]), at, taken)
end
return n
