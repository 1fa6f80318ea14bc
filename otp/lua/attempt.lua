-- attempt: the life of one send attempt's SMS. It lives in field a<n> of
-- the verification hash as
--   "queued|claimed|claims|status|errorCode|updated|reason"
-- with times in ms after the verification's creation ('cr'; claimed is ""
-- when unclaimed) and status as one letter, and its MessageSid in field
-- i<n>: every value stays under Redis's hash-max-listpack-value (64 bytes),
-- so the hash keeps its compact encoding (a 79-byte record had made each
-- verification cost 860 bytes instead of about 250). Its status only moves forward: queued < sending < sent < final
-- (delivered, undelivered, failed), so late or out-of-order reports from
-- the worker or Twilio's callbacks never move it back.
-- KEYS[1] verification key     KEYS[2] code key
-- ARGV[1] op: claim | release | record | callback
-- ARGV[2] attempt n            ARGV[3] now (unix ms)
--
-- claim: take the right to call Twilio for attempt n, atomically with
--   reading what the call needs. ARGV[4] stale ms: a claim older than this
--   belongs to a run that died mid-request (longer than the HTTP timeout),
--   so it may be taken over - at most one duplicate SMS, never more.
--   Returns {1, claims, to, expires, sealed, queuedAt}  claimed (claims > 1: a takeover)
--           {2, sid}                          Twilio already accepted it
--           {3, wait ms}                      a live run holds the claim
--           {0, reason}                       nothing to send; reason is
--             gone | expired | approved | canceled | max_attempts_reached |
--             superseded | rolled_back
-- release: ARGV[4] error code. Twilio answered with a retryable error, so
--   nothing was sent: drop the claim so the retry sends without waiting.
--   Returns 1, or 0 when there is no such attempt.
-- record / callback: ARGV[4] status ARGV[5] sid ("" keeps it)
--   ARGV[6] error code ARGV[7] reason. A callback whose sid differs from the
--   recorded one is about another message and is ignored.
--   Returns 1 recorded, 0 ignored.
local rank = {queued = 0, sending = 1, sent = 2, delivered = 3, undelivered = 3, failed = 3}
local letter = {queued = 'q', sending = 's', sent = 't', delivered = 'd', undelivered = 'u', failed = 'f'}
local word = {q = 'queued', s = 'sending', t = 'sent', d = 'delivered', u = 'undelivered', f = 'failed'}
local function split(s)
  local t = {}
  for p in (s .. '|'):gmatch('([^|]*)|') do t[#t + 1] = p end
  return t
end

local op, n, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local field, sidField = 'a' .. n, 'i' .. n
local f = redis.call('HMGET', KEYS[1], 'st', 'exp', 'sends', 'to', field, 'cr', sidField)
local cr = tonumber(f[6])
-- load gives the record as absolute values:
--   {queuedAt, claimedAt (0: none), claims, sid, status, errorCode, updatedAt, reason}
local function load(raw, sid)
  local p = split(raw)
  local claimed = 0
  if p[2] ~= '' then claimed = cr + tonumber(p[2]) end
  return {cr + tonumber(p[1]), claimed, tonumber(p[3]), sid or '', word[p[4]] or 'queued', p[5], cr + tonumber(p[6]), p[7] or ''}
end
local function save(a)
  local claimed = ''
  if a[2] > 0 then claimed = a[2] - cr end
  redis.call('HSET', KEYS[1], field,
    table.concat({a[1] - cr, claimed, a[3], letter[a[5]] or 'q', a[6], a[7] - cr, a[8] or ''}, '|'))
  if a[4] ~= '' and a[4] ~= f[7] then redis.call('HSET', KEYS[1], sidField, a[4]) end
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
  local st, exp = f[1], tonumber(f[2])
  if st == 'pending' and now >= exp then st = 'expired' end
  if st ~= 'pending' then return {0, st} end
  if tonumber(n) < tonumber(f[3]) then return {0, 'superseded'} end
  local claimed = a[2]
  if claimed > 0 and now - claimed < tonumber(ARGV[4]) then
    return {3, claimed + tonumber(ARGV[4]) - now}
  end
  local sealed = redis.call('HGET', KEYS[2], 'e')
  if not sealed then return {0, 'expired'} end
  a[2], a[3], a[7] = now, a[3] + 1, now
  save(a)
  return {1, a[3], f[4], exp, sealed, a[1]}
end

if op == 'release' then
  -- The released claim sent nothing, so it does not count as a claim:
  -- claims > 1 keeps meaning "a run may have sent before".
  a[2], a[3], a[6], a[7], a[8] = 0, math.max(a[3] - 1, 0), ARGV[4], now, 'retrying'
  save(a)
  return 1
end

-- record / callback
local status, sid = ARGV[4], ARGV[5]
-- The record is '|'-separated: a separator inside a value would corrupt it.
if string.find(sid, '|', 1, true) or string.find(ARGV[7], '|', 1, true) then return 0 end
if op == 'callback' and a[4] ~= '' and sid ~= '' and a[4] ~= sid then return 0 end
local old = rank[a[5]] or 0
local new = rank[status]
if not new or new < old or (old == 3 and status ~= a[5]) then
  -- Never backwards; but a sid learned late is still worth keeping.
  if sid ~= '' and a[4] == '' then
    redis.call('HSET', KEYS[1], sidField, sid)
  end
  return 0
end
if sid ~= '' then a[4] = sid end
a[5], a[6], a[7], a[8] = status, ARGV[6], now, ARGV[7]
save(a)
return 1
