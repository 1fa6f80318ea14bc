-- forget: drop an Idempotency-Key claim whose request ended without an
-- answer worth replaying (a 429 or 5xx, or a 2xx that changed nothing: a
-- retry should run again), unless the key already holds something else;
-- either way the claim's count goes back to the API key's cap, since this
-- request keeps nothing.
-- KEYS[1] the idempotency key (idempotencyKey in keys.go)
-- KEYS[2] the count of its API key's kept answers (idempotencyCountKey)
-- ARGV    see the locals below
-- Returns 1 forgotten, 0 left alone.
local claim = ARGV[1]             -- the claim as idemclaim.lua stored it
local period = tonumber(ARGV[2])  -- the cap's period, ms (idempotency.TTL)
local counted = tonumber(ARGV[3]) -- when idemclaim.lua counted the claim; 0: not
local now = ARGV[4]               -- unix ms, or "" for the Redis server's clock
local n = 0
if redis.call('GET', KEYS[1]) == claim then n = redis.call('DEL', KEYS[1]) end
if counted > 0 then giveBack(KEYS[2], period, clock(now), counted) end
return n
