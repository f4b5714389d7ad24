-- Users' histories: keeps the latest time per (type, feature), trims past the horizon.
-- KEYS: history sets (one per user; on a Redis Cluster the caller sends one slot's keys).
-- ARGV: cutoff_ms horizon_ms entries_1 .. entries_n, entries_k for KEYS[k]:
--   lines "<event time ms>\t<type>:<feature_id>" (ids hold no control characters).
-- Many users per call: the per-call cost was most of the work for a user with one event.
-- ZADD GT makes redelivery harmless: re-adding an event never moves a time backwards.
local cutoff = tonumber(ARGV[1])
local sizes = {}
for k = 1, #KEYS do
  local key = KEYS[k]
  local args = {}
  for score, member in string.gmatch(ARGV[k + 2], '(%d+)\t([^\n]+)') do
    args[#args + 1] = score
    args[#args + 1] = member
  end
  for i = 1, #args, 1000 do
    redis.call('ZADD', key, 'GT', unpack(args, i, math.min(i + 999, #args)))
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[1])
  -- Expires with its newest entry, on the worker's clock (now = cutoff + horizon).
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #newest > 0 then
    local ttl = tonumber(newest[2]) - cutoff
    redis.call('PEXPIRE', key, math.max(ttl, 1))
  end
  sizes[k] = #newest
end
return sizes
