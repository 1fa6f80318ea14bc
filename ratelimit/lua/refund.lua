-- refund: give back the event allow.lua took from each limit, for a send
-- that the per-number rules then refused (no SMS went out), so a client
-- cannot spend a shared budget - its range's, its country's - with
-- requests that never send anything.
-- KEYS[i]  the i-th limit's state key, as given to allow.lua
-- ARGV     per key: burst, rate, period (seconds), as given to allow.lua
-- Returns the number of keys refunded.
redis.replicate_commands()
local jan_1_2017 = 1483228800
local t = redis.call('TIME')
local now = (t[1] - jan_1_2017) + (t[2] / 1000000)
local n = 0
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key))
  if tat then
    local emission_interval = tonumber(ARGV[3 * i]) / tonumber(ARGV[3 * i - 1])
    local new_tat = tat - emission_interval
    if new_tat <= now then
      redis.call('DEL', key)
    else
      redis.call('SET', key, new_tat, 'EX', math.ceil(new_tat - now))
    end
    n = n + 1
  end
end
return n
