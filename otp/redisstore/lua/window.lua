-- window: helpers that scripts.go puts in front of take.lua and refund.lua,
-- and of the Idempotency-Key scripts (their cap on kept answers); not a
-- script of its own.
--
-- A limit "count per period" means at most count events in ANY period, not
-- count now and count more as a bucket refills (GCRA with burst = count let
-- about twice the count through in the first period). Each limit is a hash
-- of BUCKETS + 1 buckets of width w = ceil(period / BUCKETS) ms:
--   t   the events of buckets c - BUCKETS .. c (the total)
--   c   the newest bucket's number (time ms / w)
--   <b % SLOTS>  the events of bucket b
-- Those buckets span at least the period, so the total never undercounts
-- it: no period ever holds more than count events. The price is up to two
-- buckets (1/30 of the period) of extra wait after a refusal, for a fixed,
-- small state per key whatever the count, unlike a log of every event.

-- Redis 5/6 replicate a script that reads TIME by its effects only when
-- asked; Redis 7 always does.
redis.replicate_commands()

local BUCKETS = 60
local SLOTS = BUCKETS + 1

-- clock is the time in unix ms: the caller's when given (tests move it),
-- else the Redis server's, so that every api replica judges alike.
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- open reads a limit at time at: its total, newest bucket and bucket width,
-- after dropping the buckets that left the window, and whether that newest
-- bucket is the hash's already (kept), with a TTL that outlives it: a hash
-- lives until its newest bucket leaves the window, so its TTL is set only
-- when the newest bucket changes, not at every event.
local function open(key, period, at)
  local w = math.ceil(period / BUCKETS)
  local cur = math.floor(at / w)
  local f = redis.call('HMGET', key, 't', 'c')
  local total, c = tonumber(f[1]) or 0, tonumber(f[2])
  if not c then return 0, cur, w, false end
  if cur == c then return total, c, w, true end
  -- cur < c: a clock that went back (a failover); count in the newest
  -- bucket, and have put set its TTL from this clock, as before.
  if cur < c then return total, c, w, false end
  if cur - c >= SLOTS then
    redis.call('DEL', key)
    return 0, cur, w, false
  end
  local gone = {}
  for b = c + 1, cur do gone[#gone + 1] = tostring(b % SLOTS) end
  for _, v in ipairs(redis.call('HMGET', key, unpack(gone))) do
    total = total - (tonumber(v) or 0)
  end
  redis.call('HDEL', key, unpack(gone))
  redis.call('HSET', key, 't', total, 'c', cur)
  redis.call('PEXPIRE', key, SLOTS * w)
  return total, cur, w, true
end

-- wait is how long (ms) until a full limit has room for one more event:
-- until enough of its oldest buckets have left the window.
local function wait(key, total, count, c, w, at)
  local fields = {}
  for b = c - BUCKETS, c do fields[#fields + 1] = tostring(b % SLOTS) end
  local left = total
  for j, v in ipairs(redis.call('HMGET', key, unpack(fields))) do
    left = left - (tonumber(v) or 0)
    if left < count then
      local b = c - BUCKETS + j - 1
      return math.max((b + SLOTS) * w - at, 1)
    end
  end
  return SLOTS * w
end

-- put counts one event in the newest bucket c, of width w, of a limit
-- that open read; kept is open's: whether c is the hash's newest bucket
-- already.
local function put(key, c, w, kept)
  redis.call('HINCRBY', key, tostring(c % SLOTS), 1)
  redis.call('HINCRBY', key, 't', 1)
  if not kept then
    redis.call('HSET', key, 'c', c)
    -- The newest event counts until bucket c leaves the window.
    redis.call('PEXPIRE', key, SLOTS * w)
  end
end

-- giveBack takes back, at time at, one event put at time taken, out of
-- the very bucket put it in: another bucket would make the remaining
-- events look older or younger than they are, and the window would let
-- one too many through. A bucket that has left the window holds nothing
-- to give back. Returns 1 given back, 0 not.
local function giveBack(key, period, at, taken)
  local total, c, w = open(key, period, at)
  local b = math.floor(taken / w)
  local slot = tostring(b % SLOTS)
  local v = tonumber(redis.call('HGET', key, slot)) or 0
  if b < c - BUCKETS or b > c or v <= 0 or total <= 0 then return 0 end
  if v == 1 then redis.call('HDEL', key, slot) else redis.call('HSET', key, slot, v - 1) end
  redis.call('HSET', key, 't', total - 1)
  return 1
end
