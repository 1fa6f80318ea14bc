-- keep: store an Idempotency-Key request's answer, only while the key still
-- holds this request's claim (a claim that expired and was taken by a
-- retry belongs to that retry). An answer not kept gives its claim's count
-- back to the API key's cap.
-- KEYS[1] the idempotency key (idempotencyKey in keys.go)
-- KEYS[2] the count of its API key's kept answers (idempotencyCountKey)
-- ARGV    see the locals below
-- Returns 1 kept, 0 left alone.
local claim = ARGV[1]             -- the claim as idemclaim.lua stored it
local answer = ARGV[2]            -- the answer to keep
local ttl = tonumber(ARGV[3])     -- its time to live, ms: the cap's period too
local counted = tonumber(ARGV[4]) -- when idemclaim.lua counted the claim; 0: not
local now = ARGV[5]               -- unix ms, or "" for the Redis server's clock
local held = redis.call('GET', KEYS[1])
if held == claim then
  redis.call('SET', KEYS[1], answer, 'PX', ttl)
  return 1
end
-- This keep sent again after its reply was lost: kept already.
if held == answer then return 1 end
if counted > 0 then giveBack(KEYS[2], ttl, clock(now), counted) end
return 0
