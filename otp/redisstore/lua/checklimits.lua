-- checklimits: a check with the limits it takes, in one script, so that a
-- check is one round trip: the API key's write limits and the client IP's
-- failed-check budget (window.lua) are taken all or none before the code
-- is compared, and a right code leaves the budget as it was (only a right
-- code is free), as TakeCheck, check.lua and refund.lua do in three steps
-- on a Redis Cluster (the store falls back to them on CROSSSLOT too). A
-- request counts whatever it did: a refusal by the
-- budget still spends the write limits; a write limit's refusal spends
-- nothing. Its keys span slots: a single Redis or Sentinel only.
-- Put behind window.lua and check.lua's text made the function check().
-- KEYS[1], KEYS[2]  check.lua's
-- KEYS[2+i]         the i-th limit's state hash, the write limits first
-- ARGV[1..9]        check.lua's
-- ARGV[10]          the limits' time in unix ms, or "" for the Redis server's clock
-- ARGV[11]          how many of the limits are write limits (kept whatever the answer)
-- ARGV[10+2i], ARGV[11+2i]  the i-th limit's count and period (ms)
-- Returns check.lua's answer, or {OUT.limited, retry_after_ms, i} for the
-- first limit i that had no room: then no code was compared.
local at = clock(ARGV[10])
local writes = tonumber(ARGV[11])
local n = #KEYS - 2

-- opened[i] is limit i as open() read it; putAll takes one event from
-- limits from..to.
local opened = {}
local function putAll(from, to)
  for i = from, to do put(KEYS[2 + i], opened[i][1], opened[i][2], opened[i][3]) end
end

for i = 1, n do
  local key = KEYS[2 + i]
  local count, period = tonumber(ARGV[10 + 2 * i]), tonumber(ARGV[11 + 2 * i])
  local total, c, w, kept = open(key, period, at)
  if total >= count then
    local retry = wait(key, total, count, c, w, at)
    if i > writes then putAll(1, writes) end
    return {OUT.limited, retry, i}
  end
  opened[i] = {c, w, kept}
end
-- The writes count whatever check() answers, even an error of its own.
putAll(1, writes)
local res = check()
if res[1] ~= OUT.approved then putAll(writes + 1, n) end
return res
