-- idemclaim: claim an Idempotency-Key for a request, or find what holds
-- it, in one round trip. A claim counts toward its API key's cap on the
-- answers it keeps (a window.lua limit whose period is how long an answer
-- is kept), so no API key keeps more than the cap at once; at the cap,
-- nothing is claimed. keep.lua and forget.lua give the count back when no
-- answer is kept.
-- KEYS[1] the idempotency key (idempotencyKey in keys.go)
-- KEYS[2] the count of its API key's kept answers (idempotencyCountKey),
--         in the same hash tag
-- ARGV    see the locals below
-- Returns {0, counted}  claimed; counted is when the claim was counted
--                       (unix ms), 0 without a cap
--         {1, value}    the key's value: a claim, or an answer (Claim reads it)
--         {2, retry_after_ms}  the cap is reached: nothing claimed
local claim = ARGV[1]             -- 'p' + fingerprint + token
local hold = ARGV[2]              -- the claim's life, ms (idempotency.Hold)
local cap = tonumber(ARGV[3])     -- answers the API key may keep; 0: no cap
local period = tonumber(ARGV[4])  -- how long an answer is kept, ms (idempotency.TTL)
local now = ARGV[5]               -- unix ms, or "" for the Redis server's clock
local old = redis.call('GET', KEYS[1])
if old then return {1, old} end
local counted = 0
if cap > 0 then
  counted = clock(now)
  local total, c, w, kept = open(KEYS[2], period, counted)
  if total >= cap then return {2, wait(KEYS[2], total, cap, c, w, counted)} end
  put(KEYS[2], c, w, kept)
end
redis.call('SET', KEYS[1], claim, 'PX', hold)
return {0, counted}
