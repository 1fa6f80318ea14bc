-- report: record what became of a send attempt's message or call, from the
-- worker or from the gateway's status callback. Its status only moves
-- forward (RANK), so late or out-of-order reports never move it back. A
-- callback whose sid differs from the recorded one, or whose channel is
-- not the attempt's, is about another message or call and is ignored.
-- KEYS[1] number hash otp:{tag} (an archive key is built from the prefix)
-- ARGV    see the locals below
-- Returns OUT.recorded (a new status), OUT.same (the same status again: a
-- call's in-progress then completed, a WhatsApp delivered then read, a
-- repeated callback) or OUT.ignored.
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part
local n = ARGV[4]               -- the attempt
local now = clock(ARGV[5])      -- unix ms; "": Redis TIME
local status = ARGV[6]          -- the new status (a word)
local sid = ARGV[7]             -- ("" keeps it)
local errorCode = ARGV[8]
local reason = ARGV[9]
local raw = ARGV[10]            -- the gateway's own status word ("" keeps it)
local callback = ARGV[11] == '1' -- from the gateway's callback
local channel = ARGV[12]        -- the channel a callback is about ("" any)
local V = locate(KEYS[1], prefix, idBase, rand)
local f = redis.call('HMGET', V, F.status, F.attempt .. n, F.created, F.sid .. n)
if not f[1] or not f[2] then return OUT.ignored end
local cr = tonumber(f[3])
local a = loadAttempt(f[2], f[4], cr)
-- The record is '|'-separated: a separator inside the reason or the raw
-- status would corrupt it. (The sid has a field of its own, and may be
-- packed to raw bytes.)
if string.find(reason, '|', 1, true) or string.find(raw, '|', 1, true) then return OUT.ignored end
if callback and a[4] ~= '' and sid ~= '' and a[4] ~= sid then return OUT.ignored end
if callback and channel ~= '' and CH[channel] ~= a[9] then return OUT.ignored end
local old = RANK[a[5]] or 0
local new = RANK[status]
if not new or new < old or (old == RANK.delivered and status ~= a[5]) then
  -- Never backwards; but a sid learned late is still worth keeping.
  if sid ~= '' and a[4] == '' then
    redis.call('HSET', V, F.sid .. n, sid)
  end
  return OUT.ignored
end
if sid ~= '' then a[4] = sid end
local changed = status ~= a[5]
a[5], a[6], a[7], a[8] = status, errorCode, now, reason
if raw ~= '' then a[10] = raw end
saveAttempt(V, n, a, cr, f[4])
if changed then return OUT.recorded end
return OUT.same
