-- attempt: the life of one send attempt's SMS. It lives in field a<n> of
-- the verification hash as
--   "queuedAt|claimedAt|claims|sid|status|errorCode|updatedAt|reason"
-- and its status only moves forward: queued < sending < sent < final
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
local function split(s)
  local t = {}
  for p in (s .. '|'):gmatch('([^|]*)|') do t[#t + 1] = p end
  return t
end
local function join(t)
  return table.concat({t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8] or ''}, '|')
end

local op, n, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local field = 'a' .. n
local f = redis.call('HMGET', KEYS[1], 'st', 'exp', 'sends', 'to', field)
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
local a = split(f[5])

if op == 'claim' then
  if a[4] ~= '' then return {2, a[4]} end
  local st, exp = f[1], tonumber(f[2])
  if st == 'pending' and now >= exp then st = 'expired' end
  if st ~= 'pending' then return {0, st} end
  if tonumber(n) < tonumber(f[3]) then return {0, 'superseded'} end
  local claimed = tonumber(a[2])
  if claimed > 0 and now - claimed < tonumber(ARGV[4]) then
    return {3, claimed + tonumber(ARGV[4]) - now}
  end
  local sealed = redis.call('HGET', KEYS[2], 'e')
  if not sealed then return {0, 'expired'} end
  a[2], a[3], a[7] = now, tonumber(a[3]) + 1, now
  redis.call('HSET', KEYS[1], field, join(a))
  return {1, a[3], f[4], exp, sealed, tonumber(a[1])}
end

if op == 'release' then
  -- The released claim sent nothing, so it does not count as a claim:
  -- claims > 1 keeps meaning "a run may have sent before".
  a[2], a[3], a[6], a[7], a[8] = 0, math.max(tonumber(a[3]) - 1, 0), ARGV[4], now, 'retrying'
  redis.call('HSET', KEYS[1], field, join(a))
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
    a[4] = sid
    redis.call('HSET', KEYS[1], field, join(a))
  end
  return 0
end
if sid ~= '' then a[4] = sid end
a[5], a[6], a[7], a[8] = status, ARGV[6], now, ARGV[7]
redis.call('HSET', KEYS[1], field, join(a))
return 1
