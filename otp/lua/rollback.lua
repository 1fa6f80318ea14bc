-- rollback: undo a start whose task could not be enqueued, so the client's
-- 503 leaves nothing behind (no verification that nobody will ever send, no
-- spent send attempt).
-- KEYS[1] number key  KEYS[2] verification key  KEYS[3] code key
-- KEYS[4] number's send log (the send leaves it too)
-- ARGV[1] outcome of start (1 created, 2 resent)   ARGV[2] verification id
-- ARGV[3] sends after start
-- created: ARGV[4] previous id or ""   ARGV[5] retention ms for its pointer
-- resent:  ARGV[4] the last-send time before the resend
-- Returns 1 when undone, 0 when state moved on meanwhile (left alone).
if ARGV[1] == '1' then
  -- Only while nobody resent on it: a concurrent request may have queued
  -- a send on this verification since.
  if redis.call('GET', KEYS[1]) ~= ARGV[2] or redis.call('HGET', KEYS[2], 'sends') ~= '1' then
    return 0
  end
  redis.call('ZREM', KEYS[4], ARGV[2] .. ':1')
  redis.call('DEL', KEYS[2], KEYS[3])
  if ARGV[4] ~= '' then
    redis.call('SET', KEYS[1], ARGV[4], 'PX', tonumber(ARGV[5]))
  else
    redis.call('DEL', KEYS[1])
  end
  return 1
end
if redis.call('HGET', KEYS[2], 'sends') ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[4], ARGV[2] .. ':' .. ARGV[3])
redis.call('HSET', KEYS[2], 'sends', tonumber(ARGV[3]) - 1, 'last', ARGV[4])
redis.call('HDEL', KEYS[2], 'a' .. ARGV[3], 'i' .. ARGV[3])
return 1
