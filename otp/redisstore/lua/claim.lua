-- claim: take the right to call the gateway for one send attempt,
-- atomically with reading what the call needs. No send happens for a
-- verification that ended, an attempt that a later one superseded, or a
-- code that has died. A claim older than stale belongs to a run that died
-- mid-request (longer than the HTTP timeout), so it may be taken over: at
-- most one duplicate message, never more. So may one made at or before
-- deadBefore, when a rescue (tasks.Rescuer) knows its run died then.
-- KEYS[1] number hash otp:{tag} (an archive key is built from the prefix:
--         same hash tag, same slot)
-- ARGV    see the locals below
-- Returns {OUT.claimed, claims, to, expires, sealed, queuedAt, now, channel,
--          locale, brand, appHash}  claimed (claims > 1: a takeover; times
--          in unix ms, now the script's clock; channel a CH letter)
--         {OUT.sent, sid}        the gateway already accepted it
--         {OUT.busy, wait ms}    a live run holds the claim
--         {OUT.skip, reason}     nothing to send; reason is gone | expired |
--           approved | canceled | max_attempts_reached | superseded |
--           rolled_back
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part
local n = ARGV[4]               -- the attempt
local now = clock(ARGV[5])      -- unix ms; "": Redis TIME
local stale = tonumber(ARGV[6]) -- ms
local deadBefore = tonumber(ARGV[7]) -- unix ms on this clock: a claim made
                                -- then or before is a dead run's (0: none)
local V = locate(KEYS[1], prefix, idBase, rand)
local f = redis.call('HMGET', V, F.status, F.expiry, F.sends, F.to, F.attempt .. n, F.created, F.sid .. n,
  F.sealed, F.locale, F.brand, F.appHash)
if not f[1] then return {OUT.skip, REASON.gone} end
if not f[5] then
  if tonumber(n) > tonumber(f[3]) then return {OUT.skip, REASON.rolled_back} end
  return {OUT.skip, REASON.gone}
end
local cr = tonumber(f[6])
local a = loadAttempt(f[5], f[7], cr)
if a[4] ~= '' then return {OUT.sent, a[4]} end
local st, exp = f[1], cr + tonumber(f[2])
if st == ST.pending and now >= exp then
  -- Too late to send: the code dies here, as it would at a check.
  st = ST.expired
  endAs(V, st)
end
if st ~= ST.pending then return {OUT.skip, STATUS[st] or st} end
if tonumber(n) < tonumber(f[3]) then return {OUT.skip, REASON.superseded} end
local claimed = a[2]
if claimed > 0 and now - claimed < stale and claimed > deadBefore then
  return {OUT.busy, claimed + stale - now}
end
local sealed = f[8]
if not sealed then return {OUT.skip, REASON.expired} end
a[2], a[3], a[7] = now, a[3] + 1, now
saveAttempt(V, n, a, cr, f[7])
return {OUT.claimed, a[3], f[4], exp, sealed, a[1], now, a[9], f[9] or '', f[10] or '', f[11] or ''}
