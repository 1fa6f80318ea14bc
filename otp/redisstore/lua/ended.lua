-- ended: report, once, that a block ended by itself: the worker asks when
-- its time is up.
-- KEYS[1]  the scope's hash (guardlib.lua)
-- KEYS[2]  the blocks made (guard.lua)
-- ARGV[1]  now in unix ms, or "" for the Redis server's clock
-- ARGV[2]  the block's member in KEYS[2]: a scope letter, ':', the name
-- ARGV[3]  the end it was made with (ms)
-- Returns the block's fields (BLOCK_FIELDS' order; only its end when the
-- hash no longer holds it), OUT.busy when its end is still ahead, or false
-- when it was lifted, replaced or reported already.
local now = clock(ARGV[1])
local member = ARGV[2]
local ends = tonumber(ARGV[3])
local score = tonumber(redis.call('ZSCORE', KEYS[2], member))
if score ~= ends then return false end
if ends > now then return OUT.busy end
redis.call('ZREM', KEYS[2], member)
local f = redis.call('HMGET', KEYS[1], unpack(BLOCK_FIELDS))
if tonumber(f[2]) ~= ends then return {false, ARGV[3], false, false, false} end
return f
