-- allow: take one event from each of several GCRA limits, in order, and
-- stop at the first that refuses - so a client refused by its own limit
-- spends nothing from the shared ones after it. The arithmetic is
-- go-redis/redis_rate's (github.com/rwz/redis-gcra, MIT), applied to many
-- keys in one round trip; state written here is read by redis_rate and
-- the other way round.
-- KEYS[i]  the i-th limit's state key (all share one hash tag: one slot)
-- ARGV     per key, three values: burst, rate, period (seconds)
-- Returns {0} when every limit allowed the event, or {i, retry_after}
-- (seconds, as a string) for the first limit i that refused.
redis.replicate_commands()
local jan_1_2017 = 1483228800
local t = redis.call('TIME')
local now = (t[1] - jan_1_2017) + (t[2] / 1000000)
for i, key in ipairs(KEYS) do
  local burst = tonumber(ARGV[3 * i - 2])
  local rate = tonumber(ARGV[3 * i - 1])
  local period = tonumber(ARGV[3 * i])
  local emission_interval = period / rate
  local tat = tonumber(redis.call('GET', key)) or now
  tat = math.max(tat, now)
  local new_tat = tat + emission_interval
  local diff = now - (new_tat - emission_interval * burst)
  if diff < 0 then
    return {i, tostring(-diff)}
  end
  local reset_after = new_tat - now
  if reset_after > 0 then
    redis.call('SET', key, new_tat, 'EX', math.ceil(reset_after))
  end
end
return {0}
