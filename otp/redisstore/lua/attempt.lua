-- attempt: helpers that scripts.go puts in front of the scripts about one
-- send attempt (claim, release, report), after common.lua; not a script of
-- its own.
-- The attempt record: attempt n of a verification lives in field
-- F.attempt .. n of its hash as
--   "queued|claimed|claims|status|errorCode|updated|reason[|channel|raw]"
-- with times in ms after the verification's creation (claimed is "" when
-- unclaimed), status a DS letter, the channel a CH letter and raw Twilio's
-- own status word (both left out while empty), and its MessageSid or
-- CallSid in F.sid .. n: every value stays under Redis's
-- hash-max-listpack-value (64 bytes), so the hash keeps its compact
-- encoding. Its status only moves forward (RANK), so late or out-of-order
-- reports never move it back.

-- loadAttempt reads attempt record raw (of a verification created at cr,
-- with sid) as absolute values:
--   {queuedAt, claimedAt (0: none), claims, sid, status, errorCode,
--    updatedAt, reason, channel letter, raw status}
local function loadAttempt(raw, sid, cr)
  local p = split(raw)
  local claimed = 0
  if p[2] ~= '' then claimed = cr + tonumber(p[2]) end
  return {cr + tonumber(p[1]), claimed, tonumber(p[3]), sid or '', DELIVERY[p[4]] or DELIVERY[DS.queued], p[5],
    cr + tonumber(p[6]), p[7] or '', p[8] or '', p[9] or ''}
end

-- saveAttempt writes a (as loadAttempt reads it) to attempt n of V; oldSid
-- is the sid stored before.
local function saveAttempt(V, n, a, cr, oldSid)
  local claimed = ''
  if a[2] > 0 then claimed = a[2] - cr end
  local rec = {a[1] - cr, claimed, a[3], DS[a[5]] or DS.queued, a[6], a[7] - cr, a[8] or ''}
  if a[9] ~= '' or a[10] ~= '' then rec[8], rec[9] = a[9], a[10] end
  if a[4] ~= '' and a[4] ~= oldSid then
    redis.call('HSET', V, F.attempt .. n, table.concat(rec, '|'), F.sid .. n, a[4])
  else
    redis.call('HSET', V, F.attempt .. n, table.concat(rec, '|'))
  end
end
