-- step: move a verification's fallback workflow to its next step, with the
-- same code, because the current step failed (a permanent Twilio error, an
-- undelivered message, a call nobody answered) or its channel timeout
-- passed without approval. Atomic, and idempotent by construction: a step
-- moves on only from the step it names, so a duplicate trigger (a retried
-- task, a second worker, a late callback) finds the workflow moved and does
-- nothing. The resend cooldown does not hold a step back; the send cap and
-- OTP_MAX_SENDS do (the step is skipped, and the next one is tried).
-- KEYS[1] number hash otp:{tag} (common.lua and keys.go list its fields)
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part   ARGV[4] now (unix ms; "": Redis TIME)
-- ARGV[5] the step to move on from (0: the step of attempt ARGV[6])
-- ARGV[6] the attempt that failed (0: by step)
-- ARGV[7] how that step ended: f failed, t timed out ("" it ended before)
-- ARGV[8] why (a Twilio status, error or channel)
-- ARGV[9] "" to start the next step; else skip it for this reason (a
--         limit the caller applied)
-- ARGV[10] max sends   ARGV[11] sends allowed per window (0 off)
-- ARGV[12] that window ms   ARGV[13] failed checks that lock the number (0 off)
-- Returns {outcome, step, attempt, channel, code life left ms, reason}
--   outcome  1 started: step, its attempt, its channel
--            2 skipped: step, channel and reason
--            3 done: no step is left
--            0 stale: the workflow already moved on (step, attempt and
--              channel are then the current step's, and reason its status
--              letter, so that a caller whose earlier run died half way
--              can finish what it started), or there is none
--           -1 stopped: the verification is no longer pending
local N, now = KEYS[1], clock(ARGV[4])
local f = redis.call('HMGET', N, 'r', 'st', 'cr', 'x', 'n', 'wf', 'ws', 'f', 's')
if f[1] ~= ARGV[3] or not f[6] then return {0} end
local cr, ws, wf = tonumber(f[3]), tonumber(f[7]), f[6]
local exp = cr + tonumber(f[4])
local from = tonumber(ARGV[5])
local rec = redis.call('HGET', N, 'w' .. ws)
local cur = rec and split(rec)
local lockAt = tonumber(ARGV[13])
if f[2] ~= 'p' or now >= exp or (lockAt > 0 and failures(f[8], now) >= lockAt) then return {-1} end
local function stale()
  if not cur then return {0, ws} end
  return {0, ws, tonumber(cur[2]) or 0, WORKFLOW[string.sub(wf, ws, ws)] or '', exp - now, cur[1]}
end
if from == 0 then
  if not cur or cur[2] ~= ARGV[6] then return stale() end
  from = ws
end
if ws ~= from then return stale() end

local at = now - cr
if cur and cur[1] == 'a' and ARGV[7] ~= '' then
  setStep(N, from, ARGV[7], cur[2], cur[3], at, ARGV[8])
end
local nxt = from + 1
redis.call('HSET', N, 'ws', nxt)
if nxt > #wf then return {3, nxt} end
local channel = WORKFLOW[string.sub(wf, nxt, nxt)]

local sends = tonumber(f[5])
local capped, logSend = sendCap(N, f[9], now, tonumber(ARGV[11]), tonumber(ARGV[12]))
local reason = ARGV[9]
if reason == '' and sends >= tonumber(ARGV[10]) then reason = 'max_send_attempts' end
if reason == '' and capped() > 0 then reason = 'to' end
if reason ~= '' then
  setStep(N, nxt, 'k', '', at, at, reason)
  return {2, nxt, 0, channel, exp - now, reason}
end
logSend()
redis.call('HSET', N, 'n', sends + 1, 'l', at, 'a' .. (sends + 1), newAttempt(at, CHANNEL[channel]))
setStep(N, nxt, 'a', sends + 1, at, '', '')
return {1, nxt, sends + 1, channel, exp - now, ''}
