-- check: compare a code's MAC with the stored one, atomically with counting
-- the attempt, so concurrent checks approve at most once and can never push
-- the attempt counter past its limit. The number's wrong codes
-- (F.failures, "count|windowEnd") count across verifications (a new code
-- does not reset them) until a window passes without one; at lockAt of
-- them the number is locked until then, and a right code of the default
-- tenant clears them. A
-- right code also ends the workflow's current step as the one that
-- converted.
-- KEYS[1] the tenant's record of the number (start.lua); by id, a
--         verification that was replaced is read from its archive key
--         (same slot)
-- KEYS[2] the number hash otp:{tag}, whose wrong codes every tenant shares
-- ARGV    see the locals below
-- Returns {outcome, retry_after_ms, id, fields, locked}
--   outcome  OUT.approved, OUT.wrong (still pending), OUT.exhausted (a
--            wrong code that used the last attempt), OUT.not_found,
--            OUT.finished (its status in fields), OUT.max_checks (locked
--            by wrong codes until it expires), OUT.locked (the number, by
--            failed checks; retry_after_ms: the window's end)
--   locked   1 when this wrong code locked the number
local N = KEYS[1]
local G = KEYS[2]
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part ("" by number)
local now = clock(ARGV[4])      -- unix ms; "": Redis TIME
local mac = ARGV[5]             -- MAC of the submitted code
local maxChecks = tonumber(ARGV[6])
local e164 = ARGV[7]            -- the number ("" by id)
local lockAt = tonumber(ARGV[8]) -- failures that lock the number (0 off)
local lockWindow = tonumber(ARGV[9]) -- ms

local f = redis.call('HMGET', N, F.to, F.rand, F.status, F.created, F.expiry, F.mac, F.failures, F.step)
if G ~= N then f[7] = redis.call('HGET', G, F.failures) end
if e164 ~= '' and f[1] ~= e164 then return {OUT.not_found, 0} end
local V, r, st, cr, x = N, f[2], f[3], f[4], f[5]
if rand ~= '' and r ~= rand then
  V, r = archiveKey(prefix, idBase, rand), rand
  local g = redis.call('HMGET', V, F.status, F.created, F.expiry)
  st, cr, x = g[1], g[2], g[3]
end
if not st then return {OUT.not_found, 0} end
local id = idBase .. r
local exp = tonumber(cr) + tonumber(x)
local fc, fe = failures(f[7], now)
if lockAt > 0 and fc >= lockAt then
  return {OUT.locked, fe - now, id, view(V)}
end
if st == ST.pending and (now >= exp or (V == N and not f[6])) then
  st = ST.expired
  endAs(V, st)
end
if st ~= ST.pending then
  if st == ST.max_attempts_reached and now < exp then
    return {OUT.max_checks, exp - now, id, view(V)}
  end
  return {OUT.finished, 0, id, view(V)}
end
-- Only the current verification can be pending: V is the number hash.
if f[6] == mac then
  redis.call('HSET', N, F.status, ST.approved)
  -- A right code clears the number's wrong codes only in its own tenant's
  -- hash: another tenant's right code must not reset a count that guards
  -- this number against guessing elsewhere. A file tenant's count then
  -- lasts out its window.
  if G == N then
    redis.call('HDEL', N, F.mac, F.sealed, F.failures)
  else
    redis.call('HDEL', N, F.mac, F.sealed)
  end
  local ws = f[8]
  local rec = ws and redis.call('HGET', N, F.stepRecord .. ws)
  if rec and string.sub(rec, 1, 1) == STEP.started then
    local s = split(rec)
    setStep(N, ws, STEP.approved, s[2], s[3], now - tonumber(cr), '')
  end
  return {OUT.approved, 0, id, view(N)}
end
local locked = 0
if lockAt > 0 then
  -- The count lives until a whole window passes without a wrong code: a
  -- window that began at the first failure let N-1 before its end and N
  -- more after, about twice the limit in a row.
  fe = now + lockWindow
  redis.call('HSET', G, F.failures, (fc + 1) .. '|' .. fe)
  keepFor(G, fe - now)
  if fc + 1 == lockAt then locked = 1 end
end
local checks = redis.call('HINCRBY', N, F.checks, 1)
if checks >= maxChecks then
  endAs(N, ST.max_attempts_reached)
  return {OUT.exhausted, exp - now, id, view(N), locked}
end
return {OUT.wrong, 0, id, view(N), locked}
