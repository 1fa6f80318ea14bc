-- forget: drop an Idempotency-Key claim whose request ended without an
-- answer worth replaying (a 429 or 5xx: a retry should run again), unless
-- the key already holds something else.
-- KEYS[1] the idempotency key (idempotencyKey in keys.go)
-- ARGV[1] the claim as Claim wrote it ('p' + fingerprint + token)
-- Returns 1 forgotten, 0 left alone.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
