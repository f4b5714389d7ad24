-- Brings one feature's window counts up to now (buckets aged out are subtracted).
-- KEYS: state hash, bucket hash, bucket index. ARGV: now_ms keep_hours n_windows d1..dn
-- Idempotent: the lower edges (lo:<d>) record how far each window has been swept.
-- Returns {next_due_ms, 0, 0, 0, 1, {window field, count, ...}} (apply.lua's shape, every
-- count); next_due_ms is -1 when the feature has nothing left to age out.
local state, buckets, index = KEYS[1], KEYS[2], KEYS[3]
local now, keep_hours, days = read_windows(1)
if redis.call('EXISTS', state) == 0 then
  return {-1, 0, 0, 0, 1, {}}
end
local los = sweep(state, buckets, index, math.floor(now / HOUR_MS), keep_hours, days)
set_expiry(state, buckets, index, now, keep_hours)
local due = next_due(index, los, days, keep_hours)
redis.call('HSET', state, DUE, due)
return {due, 0, 0, 0, 1, window_counts(state)}
