-- take: take one event from each of several limits, all or none: a request
-- refused by one limit spends nothing from the others. The limits are
-- listed most specific first, so the refusal names the client's own limit
-- (its IP, its key) before the budgets everyone shares.
-- KEYS[i]  the i-th limit's state hash (window.lua); the keys of one call
--          share a hash tag, so the script runs in one Cluster slot
-- ARGV[1]  now in unix ms, or "" for the Redis server's clock
-- ARGV[2i], ARGV[2i+1]  the i-th limit's count and period (ms)
-- Returns {0, at} when every limit had room (one event taken from each, at
--         time at, which refund.lua needs to give them back), or
--         {i, retry_after_ms} for the first limit i that had none.
local at = clock(ARGV[1])
local opened = {}
for i, key in ipairs(KEYS) do
  local count, period = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local total, c, w, kept = open(key, period, at)
  if total >= count then
    return {i, wait(key, total, count, c, w, at)}
  end
  opened[i] = {c, w, kept}
end
for i, key in ipairs(KEYS) do
  put(key, opened[i][1], opened[i][2], opened[i][3])
end
return {0, at}
