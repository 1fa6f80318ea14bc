-- delivery: record what happened to one send attempt's SMS.
-- KEYS[1] verification key
-- ARGV[1] send attempt (1-based)  ARGV[2] delivery status
-- ARGV[3] MessageSid or ""        ARGV[4] error code (0 none)
-- ARGV[5] now (unix ms)
-- Returns 1 when recorded, 0 when the verification is gone or a later send
-- attempt owns the delivery fields (a late result must not overwrite them).
local sends = redis.call('HGET', KEYS[1], 'sends')
if not sends or sends ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ds', ARGV[2], 'ec', ARGV[4], 'du', ARGV[5])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'sid', ARGV[3]) end
return 1
