-- step: move a verification's fallback workflow to its next step, with the
-- same code, because the current step failed (a permanent gateway error,
-- an undelivered message, a call nobody answered) or its channel timeout
-- passed without approval. Atomic, and idempotent by construction: a step
-- moves on only from the step it names, so a duplicate trigger (a retried
-- task, a second worker, a late callback) finds the workflow moved and does
-- nothing. The resend cooldown does not hold a step back; the send cap and
-- OTP_MAX_SENDS do (the step is skipped, and the next one is tried).
-- KEYS[1] the tenant's record of the number (start.lua; common.lua and
--         keys.go list its fields)
-- KEYS[2] the number hash otp:{tag}, with the send log and wrong codes
--         every tenant shares
-- ARGV    see the locals below
-- Returns {outcome, step, attempt, channel, code life left ms, reason}
--   outcome  OUT.started: step, its attempt, its channel
--            OUT.skipped: step, channel and reason
--            OUT.done: no step is left
--            OUT.stale: the workflow already moved on (step, attempt and
--              channel are then the current step's, and reason its STEP
--              letter, so that a caller whose earlier run died half way
--              can finish what it started), or there is none
--            OUT.stopped: the verification is no longer pending
local N = KEYS[1]
local G = KEYS[2]
local rand = ARGV[1]            -- the id's random part
local now = clock(ARGV[2])      -- unix ms; "": Redis TIME
local from = tonumber(ARGV[3])  -- the step to move on from (0: the step of
local failed = ARGV[4]          -- attempt failed, 0: by step)
local ended = ARGV[5]           -- how that step ended, a STEP letter (failed,
                                -- timed out; "": it ended before)
local why = ARGV[6]             -- why (a gateway status, error or channel)
local skip = ARGV[7]            -- "" to start the next step; else skip it for
                                -- this reason (a limit the caller applied)
local maxSends = tonumber(ARGV[8])
local capCount = tonumber(ARGV[9]) -- sends allowed per capWindow (0 off)
local capWindow = tonumber(ARGV[10]) -- ms
local lockAt = tonumber(ARGV[11]) -- failed checks that lock the number (0 off)

local f = redis.call('HMGET', N, F.rand, F.status, F.created, F.expiry, F.sends, F.workflow, F.step, F.failures, F.sendLog)
if G ~= N then
  local g = redis.call('HMGET', G, F.failures, F.sendLog)
  f[8], f[9] = g[1], g[2]
end
if f[1] ~= rand or not f[6] then return {OUT.stale} end
local cr, ws, wf = tonumber(f[3]), tonumber(f[7]), f[6]
local exp = cr + tonumber(f[4])
local rec = redis.call('HGET', N, F.stepRecord .. ws)
local cur = rec and split(rec)
if f[2] ~= ST.pending or now >= exp or (lockAt > 0 and failures(f[8], now) >= lockAt) then return {OUT.stopped} end
local function stale()
  if not cur then return {OUT.stale, ws} end
  return {OUT.stale, ws, tonumber(cur[2]) or 0, WORKFLOW[string.sub(wf, ws, ws)] or '', exp - now, cur[1]}
end
if from == 0 then
  if not cur or cur[2] ~= failed then return stale() end
  from = ws
end
if ws ~= from then return stale() end

local at = now - cr
if cur and cur[1] == STEP.started and ended ~= '' then
  setStep(N, from, ended, cur[2], cur[3], at, why)
end
local nxt = from + 1
redis.call('HSET', N, F.step, nxt)
if nxt > #wf then return {OUT.done, nxt} end
local channel = WORKFLOW[string.sub(wf, nxt, nxt)]

local sends = tonumber(f[5])
local capped, logSend = sendCap(G, f[9], now, capCount, capWindow)
local reason = skip
if reason == '' and sends >= maxSends then reason = REASON.max_send_attempts end
if reason == '' and capped() > 0 then reason = REASON.to end
if reason ~= '' then
  setStep(N, nxt, STEP.skipped, '', at, at, reason)
  return {OUT.skipped, nxt, 0, channel, exp - now, reason}
end
logSend()
redis.call('HSET', N, F.sends, sends + 1, F.lastSend, at, F.attempt .. (sends + 1), newAttempt(at, CH[channel]))
setStep(N, nxt, STEP.started, sends + 1, at, '', '')
return {OUT.started, nxt, sends + 1, channel, exp - now, ''}
