-- Records the Kafka positions of one feature's events the worker dropped for a tombstone.
-- KEYS: the feature's dropped-position set. ARGV: ttl_ms then pairs hour, "<partition>:<offset>".
-- Runs before the batch's apply (which moves the feature's watermark past these offsets), so
-- an erasure never sees a watermark past a dropped event without its mark: it would take the
-- event for one the worker counted. Idempotent (a redelivered batch re-adds the same marks).
local key = KEYS[1]
local args = {}
for k = 2, #ARGV do args[#args + 1] = ARGV[k] end
for k = 1, #args, 1000 do
  redis.call('ZADD', key, unpack(args, k, math.min(k + 999, #args)))
end
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
return #args / 2
