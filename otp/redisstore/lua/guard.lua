-- guard: the fraud guard's part of one send, pipelined with the send's
-- limits and start script (the same round trip). It spares a safe-listed
-- number; refuses a send to a blocked range, or to a range without
-- approvals in a blocked country; judges the range and the country on
-- their settled verifications whenever a bucket has settled since their
-- last judgement, and blocks the ones that fail; and counts a start as a
-- new verification, tentatively: guard.go takes the count back when the
-- start turns out to be a resend, or is refused.
--
-- A verification is settled once grace has passed since its first send;
-- judged are those of the buckets wholly inside the window and wholly
-- settled. A scope fails with at least its minimum of them and fewer than
-- minConversion of them approved.
--
-- KEYS[1]  the range's hash (guardlib.lua)
-- KEYS[2]  the country's hash
-- KEYS[3]  the blocks made, a sorted set of a scope letter, ':', the name by end
-- KEYS[4]  the safe list, a set of E.164 numbers and their starts
-- Returns {decision, at, blocks...}
--   decision OUT.admit, OUT.refuse (a block applies: refused, or in
--            shadow mode would be) or OUT.safe (safe-listed: nothing
--            judged, nothing counted)
--   at       the time judged by (ms), whose bucket holds the count
--   blocks   8 values for each block that applies or that this call made:
--            scope letter, name, since, until, settled, approved,
--            shadow ("1"/"0"), new ("1"/"0")
local P, C, BLOCKS, SAFE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = clock(ARGV[1])
local window = tonumber(ARGV[2])        -- ms
local grace = tonumber(ARGV[3])         -- ms
local w = tonumber(ARGV[4])             -- bucket width, ms
local minSends = tonumber(ARGV[5])      -- a range's minimum of settled verifications
local minConversion = tonumber(ARGV[6]) -- fail below this share approved
local countryMinSends = tonumber(ARGV[7])
local blockTTL = tonumber(ARGV[8])      -- ms
local shadowMode = ARGV[9]              -- "1": FRAUD_GUARD=shadow
local count = ARGV[10] == '1'           -- a start: count a new verification
local number = ARGV[11]                 -- E.164
local prefix = ARGV[12]
local region = ARGV[13]

if redis.call('EXISTS', SAFE) == 1 then
  for i = 2, #number do
    if redis.call('SISMEMBER', SAFE, string.sub(number, 1, i)) == 1 then return {OUT.safe, now} end
  end
end

local cur = tostring(math.floor(now / w))
-- The current bucket of each scope, as judge read it (false: absent).
local current = {}
local lo = math.ceil((now - window) / w)
local hi = math.floor((now - grace) / w) - 1
local stamp = lo .. ':' .. hi

-- judge returns the block of scope key that applies ({since, until,
-- settled, approved, shadow}) and whether this call made it; nil when the
-- scope passes. In force is a block whose end is ahead; one made in shadow
-- mode does not bind once the guard is on: the scope is judged anew.
local function judge(key, minN, scope, name)
  local f = redis.call('HMGET', key, FG.since, FG.until, FG.settled, FG.approved, FG.shadow, FG.judged, FG.width, cur)
  current[key] = f[8] or false
  local untilT = tonumber(f[2])
  if untilT and untilT > now then
    if f[5] == '0' or shadowMode == '1' then
      return {f[1], f[2], f[3], f[4], f[5]}, false
    end
    -- A block made in shadow mode does not bind once the guard is on:
    -- it is forgotten, and the scope judged anew.
    redis.call('HDEL', key, unpack(BLOCK_FIELDS))
    redis.call('ZREM', BLOCKS, scope .. ':' .. name)
    untilT, f[1], f[6] = nil, nil, nil
  end
  if f[7] and tonumber(f[7]) ~= w then
    -- Another FRAUD_WINDOW: its buckets mean other times.
    local gone = {}
    for _, k in ipairs(redis.call('HKEYS', key)) do
      if tonumber(k) then gone[#gone + 1] = k end
    end
    if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
    redis.call('HSET', key, FG.width, w)
    f[6], current[key] = nil, false
  end
  if f[6] == stamp then return nil end
  local all = redis.call('HGETALL', key)
  if #all == 0 then return nil end
  -- What a block was made on is not judged again once it has ended: the
  -- scope starts afresh from the bucket after the block began.
  local from = lo
  if tonumber(f[1]) then from = math.max(lo, math.floor(tonumber(f[1]) / w) + 1) end
  local n, a, gone = 0, 0, {}
  for i = 1, #all, 2 do
    local b = tonumber(all[i])
    if b then
      if b < lo then
        gone[#gone + 1] = all[i]
      elseif b >= from and b <= hi then
        local bn, ba = readBucket(all[i + 1])
        n, a = n + bn, a + ba
      end
    end
  end
  if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
  -- An approval counted in the bucket after its send's: count it, once.
  a = math.min(a, n)
  if n >= minN and a < minConversion * n then
    local u = now + blockTTL
    redis.call('HSET', key, FG.since, now, FG.until, u, FG.settled, n, FG.approved, a, FG.shadow, shadowMode)
    redis.call('HDEL', key, FG.judged)
    -- The block outlives its end a little, for ended.lua's report.
    keepFor(key, blockTTL + 3600000)
    redis.call('ZREMRANGEBYSCORE', BLOCKS, '-inf', now - 86400000)
    redis.call('ZADD', BLOCKS, u, scope .. ':' .. name)
    return {now, u, n, a, shadowMode}, true
  end
  redis.call('HSET', key, FG.judged, stamp)
  return nil
end

local out = {OUT.admit, now}
local applies = false
local function report(scope, name, b, new, binds)
  for _, v in ipairs({scope, name, b[1], b[2], b[3], b[4], b[5], new and '1' or '0'}) do out[#out + 1] = v end
  if binds then applies = true end
end

local pb, pnew = judge(P, minSends, SCOPE.prefix, prefix)
if pb then
  report(SCOPE.prefix, prefix, pb, pnew, true)
else
  local cb, cnew = judge(C, countryMinSends, SCOPE.country, region)
  if cb then
    -- The country failed: only the ranges that have shown approvals in
    -- the window still get codes.
    local last = tonumber(redis.call('HGET', P, FG.lastApproval))
    report(SCOPE.country, region, cb, cnew, not (last and last > now - window))
  end
end
if applies then out[1] = OUT.refuse end

-- A refused send is no verification; in shadow mode nothing is refused.
if count and (not applies or shadowMode == '1') then
  for _, key in ipairs({P, C}) do
    local v = current[key]
    if v == nil then v = redis.call('HGET', key, cur) end
    local n, a = readBucket(v or nil)
    writeBucket(key, cur, n + 1, a)
    if not v then
      redis.call('HSET', key, FG.width, w)
      keepFor(key, window + w)
    end
  end
end
return out
