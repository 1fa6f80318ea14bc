-- adjust: what the guard learns only after a send's round trip, batched by
-- guard.go: a tentative count taken back (the start was a resend, or
-- refused, or undone) and approvals.
-- KEYS[1]  the range's hash (guardlib.lua)
-- KEYS[2]  the country's hash
-- ARGV: locals below
-- Returns {}. A scope that is gone, or counted with another bucket width,
-- or a bucket that has left the window, has nothing left to adjust.
local now = clock(ARGV[1])
local window = tonumber(ARGV[2])     -- ms
local w = tonumber(ARGV[3])          -- bucket width, ms
local b = tonumber(ARGV[4])          -- the bucket of the verification's first send
local verifications = tonumber(ARGV[5]) -- to add (negative: taken back)
local approvals = tonumber(ARGV[6])  -- to add
if (b + 1) * w <= now - window then return {} end
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, FG.width)) == w then
    local n, a = readBucket(redis.call('HGET', key, tostring(b)))
    writeBucket(key, tostring(b), n + verifications, a + approvals)
    if approvals > 0 and i == 1 then redis.call('HSET', key, FG.lastApproval, now) end
  end
end
return {}
