-- start: create a verification for a number, or resend its pending one.
-- A finished verification that a new one replaces moves to its archive key
-- (archiveKey: same hash tag, same slot).
-- KEYS[1] the tenant's record of the number: otp:{tag} (keys.go lists its
--         fields), or otp:{tag}:t:<tenant> for a tenant of TENANTS_FILE
-- KEYS[2] the number hash otp:{tag}: its send log and wrong codes guard the
--         phone's owner, so every tenant shares them (KEYS[1] itself for
--         the default tenant)
-- ARGV    see the locals below: where the id is, the clock, the rules of
--         the lifecycle, the code, the message and a workflow
-- Returns {outcome, retry_after_ms, id, fields, before}
--   outcome  OUT.created, OUT.resent; refused (nothing touched):
--            OUT.cooldown, OUT.max_sends, OUT.max_checks, OUT.locked (the
--            number, by failed checks), OUT.send_cap (rolling cap),
--            OUT.collision (another number has this hash tag, or an
--            archived verification has the new id: the caller may retry
--            with a new id)
--   id, fields  the verification's id and view (absent on refusals)
--   before   on a resend, {locale, brand, appHash} as they were ("" absent),
--            which rollback.lua puts back
local N = KEYS[1]
local G = KEYS[2]
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local newRand = ARGV[3]         -- the new id's random part
local now = clock(ARGV[4])      -- unix ms; "": Redis TIME
local ttl = tonumber(ARGV[5])   -- ms
local retention = tonumber(ARGV[6]) -- ms a finished verification stays readable
local maxSends = tonumber(ARGV[7])
local cooldown = tonumber(ARGV[8])  -- ms
local mac = ARGV[9]             -- the code's MAC
local sealed = ARGV[10]         -- the sealed code
local e164 = ARGV[11]
local channel = ARGV[12]
local capCount = tonumber(ARGV[13]) -- sends allowed per capWindow (0 off)
local capWindow = tonumber(ARGV[14]) -- ms
local lockAt = tonumber(ARGV[15])   -- failed checks that lock the number (0 off)
local locale = ARGV[16]         -- asked for ("" none)
local brand = ARGV[17]          -- brand key ("" the default)
local appHash = ARGV[18]        -- ("" none); with locale and brand, how the
                                -- worker writes the message: a resend that
                                -- gives them replaces them
local regionLocale = ARGV[19]   -- the number's country's, a new
                                -- verification's when locale is ""
local workflow = ARGV[20]       -- a new verification's workflow, its steps'
                                -- channels as WF letters ("" none; a resend
                                -- ignores it)
local stepTimeout = ARGV[21]    -- its channel timeout, ms
local origin = ARGV[22]         -- with a workflow, who asked
                                -- ("apiKeyId|clientIp"), whose limits its
                                -- later steps count against

local f = redis.call('HMGET', N, F.to, F.rand, F.status, F.sends, F.checks, F.created, F.expiry, F.lastSend,
  F.failures, F.sendLog)
if G ~= N then
  local g = redis.call('HMGET', G, F.failures, F.sendLog)
  f[9], f[10] = g[1], g[2]
end
local cur, st = f[2], f[3]
if f[1] and f[1] ~= e164 then return {OUT.collision, 0} end
if cur == newRand then
  -- A replay of this very call (its reply was lost): answer as it did.
  return {OUT.created, 0, idBase .. cur, view(N)}
end
if lockAt > 0 then
  local fc, fe = failures(f[9], now)
  if fc >= lockAt then return {OUT.locked, fe - now} end
end

local capped, logSend = sendCap(G, f[10], now, capCount, capWindow)

-- setMessage keeps what the worker needs to write the message. English,
-- the locale of most verifications, is the absence of the field (keys.go):
-- 32 bytes less per verification, as the hash's listpack drops to the
-- allocator's next smaller size. Every earlier build reads it so too.
local function setMessage(new)
  local lo = locale
  if lo == '' and new then lo = regionLocale end
  if lo == LOCALE.default then
    if not new then redis.call('HDEL', N, F.locale) end
  elseif lo ~= '' then
    redis.call('HSET', N, F.locale, lo)
  end
  if brand ~= '' then redis.call('HSET', N, F.brand, brand) end
  if appHash ~= '' then redis.call('HSET', N, F.appHash, appHash) end
end

local carried = 0
if cur then
  local cr = tonumber(f[6])
  local exp, last = cr + tonumber(f[7]), cr + tonumber(f[8] or 0)
  if st == ST.pending and now < exp then
    local sends = tonumber(f[4])
    if sends >= maxSends then return {OUT.max_sends, exp - now} end
    local wait = last + cooldown - now
    if wait > 0 then return {OUT.cooldown, wait} end
    local capWait = capped()
    if capWait > 0 then return {OUT.send_cap, capWait} end
    logSend()
    local at = now - cr
    -- What the resend replaces, for a rollback to put back.
    local before = redis.call('HMGET', N, F.locale, F.brand, F.appHash)
    redis.call('HSET', N, F.sends, sends + 1, F.lastSend, at, F.attempt .. (sends + 1), newAttempt(at, CH[channel] or ''))
    setMessage(false)
    return {OUT.resent, 0, idBase .. cur, view(N), {before[1] or '', before[2] or '', before[3] or ''}}
  end
  if st == ST.max_attempts_reached and now < exp then
    -- A new code must not reset the failure count: the number stays locked
    -- until the dead verification would have expired.
    return {OUT.max_checks, exp - now}
  end
  -- The cooldown is per number, not per verification: cancel-and-restart
  -- must not become a way to text a number in a loop.
  local wait = last + cooldown - now
  if wait > 0 then return {OUT.cooldown, wait} end
  -- Canceling must not refill the wrong-code budget: a new verification
  -- inherits the failures of a canceled one whose time is not up.
  if st == ST.canceled and now < exp then carried = tonumber(f[5]) or 0 end
end
local capWait = capped()
if capWait > 0 then return {OUT.send_cap, capWait} end
-- The id is the sealed code's nonce: it must never have been used.
if redis.call('EXISTS', archiveKey(prefix, idBase, newRand)) == 1 then return {OUT.collision, 0} end

if cur then
  -- Archive the finished verification, without its code, for the rest of
  -- its retention; the number hash keeps only the number's own fields.
  local all = redis.call('HGETALL', N)
  local A = archiveKey(prefix, idBase, cur)
  local keep, drop = {}, {}
  local cr, x = tonumber(f[6]), tonumber(f[7])
  for i = 1, #all, 2 do
    local k, v = all[i], all[i + 1]
    if k == F.status and v == ST.pending then v = ST.expired end
    if not NUMBER_FIELDS[k] then
      if k ~= F.to then drop[#drop + 1] = k end
      if k ~= F.mac and k ~= F.sealed and k ~= F.previous then
        keep[#keep + 1] = k
        keep[#keep + 1] = v
      end
    end
  end
  redis.call('HDEL', N, unpack(drop))
  local left = cr + x + retention - now
  if left > 0 then
    redis.call('HSET', A, unpack(keep))
    redis.call('PEXPIRE', A, left)
  end
end
-- checks and last send are still written at 0: builds before December
-- 2026 cannot read them absent, and may run beside this one during a
-- rolling upgrade.
local v = {F.to, e164, F.rand, newRand, F.status, ST.pending, F.sends, 1, F.checks, carried,
  F.created, now, F.expiry, ttl, F.lastSend, 0, F.attempt .. 1, newAttempt(0, CH[channel] or ''),
  F.mac, mac, F.sealed, sealed}
-- The replaced verification, so that a rollback can bring it back.
if cur then v[#v + 1] = F.previous; v[#v + 1] = cur end
if workflow ~= '' then
  -- The first step of the workflow is this send.
  local w = {F.workflow, workflow, F.stepTimeout, stepTimeout, F.step, 1,
    F.stepRecord .. 1, STEP.started .. '|1|0||', F.origin, origin}
  for _, x in ipairs(w) do v[#v + 1] = x end
end
-- The default tenant's record is the number hash: the send log goes in
-- the same HSET, and one keepFor covers both deadlines.
local logFor = 0
if G == N then logFor = logSend(v) else logSend() end
redis.call('HSET', N, unpack(v))
setMessage(true)
keepFor(N, math.max(ttl + retention, logFor))
return {OUT.created, 0, idBase .. newRand, view(N)}
