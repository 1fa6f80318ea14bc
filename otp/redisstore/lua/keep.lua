-- keep: store an Idempotency-Key request's answer, only while the key still
-- holds this request's claim (a claim that expired and was taken by a
-- retry belongs to that retry).
-- KEYS[1] the idempotency key (idempotencyKey in keys.go)
-- ARGV[1] the claim as Claim wrote it ('p' + fingerprint + token)
-- ARGV[2] the answer to keep   ARGV[3] its time to live, ms
-- Returns 1 kept, 0 left alone.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
