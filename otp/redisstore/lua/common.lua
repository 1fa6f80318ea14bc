-- common: helpers that scripts.go puts in front of every verification
-- script; not a script of its own. Like the scripts, it names the schema
-- (schema.go's tables: F.status for a field, ST.pending for a status
-- letter, OUT.cooldown for an outcome …), which scripts.go compiles into
-- literals. Statuses are one letter at rest: the word is what leaves Redis
-- only in claim's skip reasons.
-- Redis 5/6 replicate a script that reads TIME by its effects only when
-- asked; Redis 7 always does.
redis.replicate_commands()

-- clock is the time in unix ms: the caller's when given (tests move it),
-- else the Redis server's, so that every api and worker judges expiry and
-- windows alike, whatever its host's clock says.
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- newAttempt is a queued attempt's record (see attempt.lua),
-- at ms after the verification's creation, on channel letter chl.
local function newAttempt(at, chl)
  local r = at .. '||0|' .. DS.queued .. '|0|' .. at .. '|'
  if chl ~= '' then r = r .. '|' .. chl .. '|' end
  return r
end

-- NUMBER_FIELDS belong to the number, not to its current verification.
local NUMBER_FIELDS = {[F.sendLog] = true, [F.failures] = true}

-- CODE_FIELDS are the code material: they go when the code dies.
local CODE_FIELDS = {F.mac, F.sealed}

-- HIDDEN fields never leave Redis in a view: the code material, the
-- number's own fields and the pointer to the replaced verification.
local HIDDEN = {[F.mac] = true, [F.sealed] = true, [F.sendLog] = true, [F.failures] = true, [F.previous] = true}

-- view returns a hash's fields, less the HIDDEN ones (what a verification
-- shows), as one string of "<name>:<length>:<value>" for each field
-- (values may hold any byte; "" for no hash): one bulk reply, which the
-- client reads in one allocation where HGETALL's pairs cost two a field.
local function view(key)
  local all = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #all, 2 do
    local k = all[i]
    if not HIDDEN[k] then
      local v = all[i + 1]
      out[#out + 1] = k .. ':' .. #v .. ':' .. v
    end
  end
  return table.concat(out)
end

-- endAs gives verification V status letter st, and kills its code.
local function endAs(V, st)
  redis.call('HSET', V, F.status, st)
  redis.call('HDEL', V, unpack(CODE_FIELDS))
end

-- keepFor makes key live at least ms longer; it never shortens its life,
-- since one hash carries several deadlines (retention, send log, failures).
local function keepFor(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, math.max(ms, 1)) end
end

-- failures reads the number's wrong-code record "count|windowEnd": the
-- count and window end, or 0, 0 once the window is over.
local function failures(raw, now)
  if not raw then return 0, 0 end
  local c, e = string.match(raw, '^(%d+)|(%d+)$')
  c, e = tonumber(c), tonumber(e)
  if not c or now >= e then return 0, 0 end
  return c, e
end

-- archiveKey is where a verification that a new one replaced is kept.
local function archiveKey(prefix, idBase, r) return prefix .. ':v:' .. idBase .. r end

-- locate finds verification r of a number: the number hash while it is the
-- current one, else its archive key (which may not exist).
local function locate(numberKey, prefix, idBase, r)
  if redis.call('HGET', numberKey, F.rand) == r then return numberKey end
  return archiveKey(prefix, idBase, r)
end

-- The send log holds the number's send times for the rolling cap, in
-- base 36: the first in ms since the epoch, each next as ms after the one
-- before ("hvoxk8fj,n5c,2jgw"). Short, so that ten sends in a day still
-- fit a listpack value (64 bytes) and the hash keeps its compact encoding.
local function readLog(raw)
  local log, prev = {}, nil
  if not raw then return log end
  for tok in string.gmatch(raw, '[^,]+') do
    local t = tonumber(tok, 36)
    if prev then t = prev + t end
    log[#log + 1] = t
    prev = t
  end
  return log
end

local DIGITS36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  if n == 0 then return '0' end
  local s = ''
  while n > 0 do
    local d = n % 36
    s = string.sub(DIGITS36, d + 1, d + 1) .. s
    n = (n - d) / 36
  end
  return s
end

-- split cuts a '|'-separated record into its fields, empty ones included.
local function split(s)
  local t = {}
  for p in (s .. '|'):gmatch('([^|]*)|') do t[#t + 1] = p end
  return t
end

-- writeLog encodes send times for readLog. They are sorted first: api
-- hosts' clocks differ a little, and a delta must not be negative.
local function writeLog(log)
  table.sort(log)
  local out, prev = {}, nil
  for i = 1, #log do
    out[i] = base36(prev and log[i] - prev or log[i])
    prev = log[i]
  end
  return table.concat(out, ',')
end

-- sendCap is the number N's rolling send cap (cap sends per window ms; 0
-- off) over its send log raw, at time now: capped() says how long until
-- another send fits (0: now), logSend() records a send now. logSend(v)
-- instead appends the log's field and value to v, the arguments of an
-- HSET of N's that the caller makes, and returns how long N must then
-- live (0: nothing appended), for the caller's keepFor.
local function sendCap(N, raw, now, cap, window)
  local log = {}
  if cap > 0 then
    for _, t in ipairs(readLog(raw)) do
      if t > now - window then log[#log + 1] = t end
    end
  end
  local function capped()
    if cap <= 0 or #log < cap then return 0 end
    local oldest = log[1]
    for _, t in ipairs(log) do oldest = math.min(oldest, t) end
    return math.max(oldest + window - now, 1)
  end
  local function logSend(v)
    if cap <= 0 then return 0 end
    log[#log + 1] = now
    if v then
      v[#v + 1] = F.sendLog
      v[#v + 1] = writeLog(log)
      return window
    end
    redis.call('HSET', N, F.sendLog, writeLog(log))
    keepFor(N, window)
    return 0
  end
  return capped, logSend
end

-- A fallback workflow lives in its verification's fields: F.workflow, its
-- steps' channels as letters (WF); F.stepTimeout, the channel timeout in
-- ms; F.step, the current step; and F.stepRecord .. i, step i as
-- "status|attempt|started|ended|reason" (times in ms after creation;
-- status a STEP letter).

-- setStep writes step i of the verification in hash V.
local function setStep(V, i, status, attempt, started, ended, reason)
  redis.call('HSET', V, F.stepRecord .. i, table.concat({status, attempt, started, ended, reason}, '|'))
end
