-- lift: end a block now and restart its scope's counts
-- (DELETE /v1/fraud/blocks/{name}).
-- KEYS[1]  the scope's hash (guardlib.lua)
-- KEYS[2]  the blocks made (guard.lua)
-- ARGV[1]  now in unix ms, or "" for the Redis server's clock
-- ARGV[2]  the block's member in KEYS[2]: a scope letter, ':', the name
-- Returns the block's fields (BLOCK_FIELDS' order), or false when none was
-- in force.
local now = clock(ARGV[1])
local member = ARGV[2]
local f = redis.call('HMGET', KEYS[1], unpack(BLOCK_FIELDS))
if not tonumber(f[2]) or tonumber(f[2]) <= now then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], member)
return f
