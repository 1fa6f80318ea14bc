-- guardlib: helpers that guard.go puts in front of the fraud guard's
-- scripts; not a script of its own. Like the verification scripts, these
-- name the schema (schema.go: FG.until, SCOPE.prefix, OUT.refuse …).
--
-- A scope, a number range or a country, is one hash (keys.go: guardKey):
--   <b>              bucket b's new verifications and approvals, "n" or
--                    "n|a" (approvals left out at 0), b = floor(ms / w)
--   FG.width         w, the bucket width in ms (ceil(FRAUD_WINDOW / BUCKETS)):
--                    another width (FRAUD_WINDOW changed) drops the buckets
--   FG.judged        "lo:hi", the settled buckets last judged and passed
--   FG.since … FG.shadow  its last block: since, until (ms), the settled
--                    and approved verifications it was judged on, made in
--                    shadow mode ("1") or not ("0"); kept after its end,
--                    when the buckets up to its start are no longer judged
--   FG.lastApproval  when one of its approvals was last counted (ms)
-- At most BUCKETS + a few bucket fields: the window's and those that are
-- not settled yet.

-- Redis 5/6 replicate a script that reads TIME by its effects only when
-- asked; Redis 7 always does.
redis.replicate_commands()

local BUCKETS = 60

-- clock is the time in unix ms: the caller's when given (tests move it),
-- else the Redis server's, so that every api replica judges alike.
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- readBucket is a bucket's new verifications and approvals.
local function readBucket(v)
  if not v then return 0, 0 end
  local n, a = string.match(v, '^(%d+)|(%d+)$')
  if n then return tonumber(n), tonumber(a) end
  return tonumber(v) or 0, 0
end

-- writeBucket stores them, or drops a bucket left empty.
local function writeBucket(key, b, n, a)
  if n <= 0 and a <= 0 then
    redis.call('HDEL', key, b)
  elseif a > 0 then
    redis.call('HSET', key, b, math.max(n, 0) .. '|' .. a)
  else
    redis.call('HSET', key, b, n)
  end
end

-- keepFor makes key live at least ms longer; it never shortens its life,
-- which a block may have made longer than the window.
local function keepFor(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, math.max(ms, 1)) end
end

-- BLOCK_FIELDS are a block's fields, in the order scripts return them.
local BLOCK_FIELDS = {FG.since, FG.until, FG.settled, FG.approved, FG.shadow}
