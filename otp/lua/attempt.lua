-- attempt: the life of one send attempt's message or call. It lives in
-- field a<n> of the verification's hash (the number hash while it is the
-- current one, else its archive key) as
--   "queued|claimed|claims|status|errorCode|updated|reason[|channel|raw]"
-- with times in ms after the verification's creation ('cr'; claimed is ""
-- when unclaimed), status as one letter, the channel as common.lua's
-- letter and raw as Twilio's own status word (both left out while empty),
-- and its MessageSid or CallSid in field i<n>: every value stays under Redis's hash-max-listpack-value (64 bytes),
-- so the hash keeps its compact encoding (a 79-byte record had made each
-- verification cost 860 bytes instead of about 250). Its status only moves forward: queued < sending < sent < final
-- (delivered, undelivered, failed), so late or out-of-order reports from
-- the worker or Twilio's callbacks never move it back.
-- KEYS[1] number hash otp:{tag} (an archive key is built from ARGV[1]:
--         same hash tag, same slot)
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part   ARGV[4] op: claim | release | record | callback
-- ARGV[5] attempt n              ARGV[6] now (unix ms; "": Redis TIME)
--
-- claim: take the right to call Twilio for attempt n, atomically with
--   reading what the call needs. ARGV[7] stale ms: a claim older than this
--   belongs to a run that died mid-request (longer than the HTTP timeout),
--   so it may be taken over - at most one duplicate SMS, never more.
--   Returns {1, claims, to, expires, sealed, queuedAt, now, channel, locale,
--             brand, appHash}  claimed (claims > 1: a takeover; times in
--             unix ms, now the script's clock; channel a letter)
--           {2, sid}                          Twilio already accepted it
--           {3, wait ms}                      a live run holds the claim
--           {0, reason}                       nothing to send; reason is
--             gone | expired | approved | canceled | max_attempts_reached |
--             superseded | rolled_back
-- release: ARGV[7] error code. Twilio answered with a retryable error, so
--   nothing was sent: drop the claim so the retry sends without waiting.
--   Returns 1, or 0 when there is no such attempt.
-- record / callback: ARGV[7] status ARGV[8] sid ("" keeps it)
--   ARGV[9] error code ARGV[10] reason ARGV[11] Twilio's raw status ("" keeps
--   it) ARGV[12] the channel a callback is about ("" any). A callback whose
--   sid differs from the recorded one, or whose channel is not the
--   attempt's, is about another message or call and is ignored.
--   Returns 1 recorded a new status, 2 recorded the same status again (a
--   call's in-progress then completed, a WhatsApp delivered then read, a
--   repeated callback), 0 ignored.
local rank = {queued = 0, sending = 1, sent = 2, delivered = 3, undelivered = 3, failed = 3}
local letter = {queued = 'q', sending = 's', sent = 't', delivered = 'd', undelivered = 'u', failed = 'f'}
local word = {q = 'queued', s = 'sending', t = 'sent', d = 'delivered', u = 'undelivered', f = 'failed'}

local op, n, now = ARGV[4], ARGV[5], clock(ARGV[6])
local V = locate(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local field, sidField = 'a' .. n, 'i' .. n
local f = redis.call('HMGET', V, 'st', 'x', 'n', 'to', field, 'cr', sidField, 'e', 'lo', 'b', 'ah')
local cr = tonumber(f[6])
-- load gives the record as absolute values:
--   {queuedAt, claimedAt (0: none), claims, sid, status, errorCode, updatedAt,
--    reason, channel, raw}
local function load(raw, sid)
  local p = split(raw)
  local claimed = 0
  if p[2] ~= '' then claimed = cr + tonumber(p[2]) end
  return {cr + tonumber(p[1]), claimed, tonumber(p[3]), sid or '', word[p[4]] or 'queued', p[5], cr + tonumber(p[6]),
    p[7] or '', p[8] or '', p[9] or ''}
end
local function save(a)
  local claimed = ''
  if a[2] > 0 then claimed = a[2] - cr end
  local rec = {a[1] - cr, claimed, a[3], letter[a[5]] or 'q', a[6], a[7] - cr, a[8] or ''}
  if a[9] ~= '' or a[10] ~= '' then rec[8], rec[9] = a[9], a[10] end
  redis.call('HSET', V, field, table.concat(rec, '|'))
  if a[4] ~= '' and a[4] ~= f[7] then redis.call('HSET', V, sidField, a[4]) end
end
if not f[1] then
  if op == 'claim' then return {0, 'gone'} end
  return 0
end
if not f[5] then
  if op == 'claim' then
    if tonumber(n) > tonumber(f[3]) then return {0, 'rolled_back'} end
    return {0, 'gone'}
  end
  return 0
end
local a = load(f[5], f[7])

if op == 'claim' then
  if a[4] ~= '' then return {2, a[4]} end
  local st, exp = f[1], cr + tonumber(f[2])
  if st == 'p' and now >= exp then
    -- Too late to send: the code dies here, as it would at a check.
    st = 'e'
    redis.call('HSET', V, 'st', st)
    redis.call('HDEL', V, 'h', 'e')
  end
  if st ~= 'p' then return {0, STATUS[st] or st} end
  if tonumber(n) < tonumber(f[3]) then return {0, 'superseded'} end
  local claimed = a[2]
  if claimed > 0 and now - claimed < tonumber(ARGV[7]) then
    return {3, claimed + tonumber(ARGV[7]) - now}
  end
  local sealed = f[8]
  if not sealed then return {0, 'expired'} end
  a[2], a[3], a[7] = now, a[3] + 1, now
  save(a)
  return {1, a[3], f[4], exp, sealed, a[1], now, a[9], f[9] or '', f[10] or '', f[11] or ''}
end

if op == 'release' then
  -- The released claim sent nothing, so it does not count as a claim:
  -- claims > 1 keeps meaning "a run may have sent before".
  a[2], a[3], a[6], a[7], a[8] = 0, math.max(a[3] - 1, 0), ARGV[7], now, 'retrying'
  save(a)
  return 1
end

-- record / callback
local status, sid = ARGV[7], ARGV[8]
-- The record is '|'-separated: a separator inside the reason or the raw
-- status would corrupt it. (The sid has a field of its own, and may be
-- packed to raw bytes.)
if string.find(ARGV[10], '|', 1, true) or string.find(ARGV[11], '|', 1, true) then return 0 end
if op == 'callback' and a[4] ~= '' and sid ~= '' and a[4] ~= sid then return 0 end
if op == 'callback' and ARGV[12] ~= '' and CHANNEL[ARGV[12]] ~= a[9] then return 0 end
local old = rank[a[5]] or 0
local new = rank[status]
if not new or new < old or (old == 3 and status ~= a[5]) then
  -- Never backwards; but a sid learned late is still worth keeping.
  if sid ~= '' and a[4] == '' then
    redis.call('HSET', V, sidField, sid)
  end
  return 0
end
if sid ~= '' then a[4] = sid end
local changed = status ~= a[5]
a[5], a[6], a[7], a[8] = status, ARGV[9], now, ARGV[10]
if ARGV[11] ~= '' then a[10] = ARGV[11] end
save(a)
if changed then return 1 end
return 2
