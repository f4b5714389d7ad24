-- Applies one batch of one feature's events exactly once.
-- KEYS: state hash, bucket hash, bucket index, event-id set (one feature, one slot).
-- ARGV: now_ms keep_hours n_windows d1..dn offset_field dedupe_ms events
--       events: per event, in offset order, struct '>i8i4c16s': offset, hour bucket,
--       event_id (16 bytes), comma-separated types (zero-terminated). One argument per
--       feature keeps the client's per-argument cost out of the hot path.
-- Skips events at or below the partition's watermark (Kafka redelivery) and event_ids seen
-- within dedupe_ms (client resends); the watermark moves in the same atomic step as the
-- counts, so a crash before or after this script never counts an event twice or loses it.
-- Returns {next_due_ms, applied, replayed, duplicates, {window field, count, ...}}.
local state, buckets, index, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, keep_hours, days, at = read_windows(1)
local now_hour = math.floor(now / HOUR_MS)
local offset_field = ARGV[at]
local dedupe_ms = tonumber(ARGV[at + 1])
local events = ARGV[at + 2]

local los = sweep(state, buckets, index, now_hour, keep_hours, days)
local watermark = tonumber(redis.call('HGET', state, offset_field) or '-1')
local top = watermark
if dedupe_ms > 0 then
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - dedupe_ms))
end

local min_hour = now_hour - keep_hours
local applied, replayed, duplicates = 0, 0, 0
local pos, size = 1, #events
while pos <= size do
  local offset, hour, event_id, types
  offset, hour, event_id, types, pos = struct.unpack('>i8i4c16s', events, pos)
  if offset <= watermark then
    replayed = replayed + 1
  elseif dedupe_ms > 0 and redis.call('ZSCORE', seen, event_id) then
    duplicates = duplicates + 1
  else
    if dedupe_ms > 0 then redis.call('ZADD', seen, now, event_id) end
    if hour >= min_hour then
      for t in string.gmatch(types, '[^,]+') do
        local field = hour .. SEP .. t
        if redis.call('HINCRBY', buckets, field, 1) == 1 then
          redis.call('ZADD', index, hour, field)
        end
        for j, d in ipairs(days) do
          if hour >= los[j] then redis.call('HINCRBY', state, d .. SEP .. t, 1) end
        end
      end
    end
    applied = applied + 1
  end
  if offset > top then top = offset end
end

if top > watermark then redis.call('HSET', state, offset_field, top) end
if applied > 0 and dedupe_ms > 0 then redis.call('PEXPIRE', seen, dedupe_ms) end
set_expiry(state, buckets, index, now, keep_hours)
return {next_due(index, los, days, keep_hours), applied, replayed, duplicates, window_counts(state)}
