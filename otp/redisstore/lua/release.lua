-- release: the gateway answered a send attempt with a retryable error, so
-- nothing was sent: drop the claim so the retry sends without waiting.
-- The released claim sent nothing, so it does not count as a claim:
-- claims > 1 keeps meaning "a run may have sent before".
-- KEYS[1] number hash otp:{tag} (an archive key is built from the prefix)
-- ARGV    see the locals below
-- Returns 1, or 0 when there is no such attempt.
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part
local n = ARGV[4]               -- the attempt
local now = clock(ARGV[5])      -- unix ms; "": Redis TIME
local errorCode = ARGV[6]       -- the gateway's
local V = locate(KEYS[1], prefix, idBase, rand)
local f = redis.call('HMGET', V, F.status, F.attempt .. n, F.created, F.sid .. n)
if not f[1] or not f[2] then return 0 end
local cr = tonumber(f[3])
local a = loadAttempt(f[2], f[4], cr)
a[2], a[3], a[6], a[7], a[8] = 0, math.max(a[3] - 1, 0), errorCode, now, REASON.retrying
saveAttempt(V, n, a, cr, f[4])
return 1
