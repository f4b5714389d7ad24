-- One user's history: keeps the latest time per (type, feature), trims past the horizon.
-- KEYS: the user's history set. ARGV: cutoff_ms horizon_ms entries
--   entries: lines "<event time ms>\t<type>:<feature_id>" (ids hold no control characters).
-- ZADD GT makes redelivery harmless: re-adding an event never moves a time backwards.
local key = KEYS[1]
local args = {}
for score, member in string.gmatch(ARGV[3], '(%d+)\t([^\n]+)') do
  args[#args + 1] = score
  args[#args + 1] = member
end
for k = 1, #args, 1000 do
  redis.call('ZADD', key, 'GT', unpack(args, k, math.min(k + 999, #args)))
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[1])
-- Expires with its newest entry, on the worker's clock (now = cutoff + horizon).
local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if #newest > 0 then
  local ttl = tonumber(newest[2]) - tonumber(ARGV[1])
  redis.call('PEXPIRE', key, math.max(ttl, 1))
end
return #newest
