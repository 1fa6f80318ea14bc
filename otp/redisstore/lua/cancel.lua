-- cancel: end a pending verification; its code dies with it.
-- KEYS[1] number hash otp:{tag} (an archived verification's key is built
--         from the prefix: same hash tag, same slot)
-- ARGV    see the locals below
-- Returns {outcome, retry_after_ms, fields}
--   outcome  OUT.canceled (now), OUT.was_canceled (before), OUT.not_found,
--            OUT.finished (otherwise), OUT.max_checks (locked by wrong
--            codes: canceling must not lift the lock)
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part
local now = clock(ARGV[4])      -- unix ms; "": Redis TIME
local V = locate(KEYS[1], prefix, idBase, rand)
local f = redis.call('HMGET', V, F.status, F.created, F.expiry)
local st = f[1]
if not st then return {OUT.not_found, 0} end
local exp = tonumber(f[2]) + tonumber(f[3])
if st == ST.pending and now >= exp then
  st = ST.expired
  endAs(V, st)
end
if st == ST.pending then
  endAs(V, ST.canceled)
  return {OUT.canceled, 0, view(V)}
end
if st == ST.canceled then return {OUT.was_canceled, 0, view(V)} end
if st == ST.max_attempts_reached and now < exp then
  return {OUT.max_checks, exp - now, view(V)}
end
return {OUT.finished, 0, view(V)}
