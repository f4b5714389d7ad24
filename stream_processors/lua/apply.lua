-- Applies one batch of one feature's events exactly once.
-- KEYS: state hash, bucket hash, bucket index, event-id set (one feature, one slot).
-- ARGV: params full events
--   params: "now_ms keep_hours dedupe_ms offset_field d1 .. dn", one string per partition
--           and batch (each argument costs the client, and this script runs per feature);
--   full:   '1' when the caller holds no earlier reply for this feature;
--   events: per event, in offset order, struct '>i8i4c16s': offset, hour bucket,
--           event_id (16 bytes), comma-separated types (zero-terminated).
-- Skips events at or below the partition's watermark (Kafka redelivery) and event_ids seen
-- within dedupe_ms or earlier in this batch (client resends); the watermark moves in the same
-- atomic step as the counts, so a crash before or after this script never counts an event
-- twice or loses it. Increments are summed per field first, so a hot feature costs one
-- HINCRBY per (hour, type) and per (window, type), not per event.
-- Returns {next_due_ms, applied, replayed, duplicates, is_full, {window field, count, ...}}
-- (is_full 2: an erasure changed the counts since the last reply, see erase.lua):
-- every window count when `full`, after a redelivery (so a crash between this step and the
-- trending write is repaired) or when a window moved; otherwise only the counts this call
-- changed. next_due_ms is -2 when it cannot have changed (no new bucket, no window moved)
-- and the caller holds the previous value; otherwise it is also stored as `due` for readers.
local state, buckets, index, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local params = {}
for word in string.gmatch(ARGV[1], '%S+') do params[#params + 1] = word end
local now, keep_hours, dedupe_ms = tonumber(params[1]), tonumber(params[2]), tonumber(params[3])
local offset_field = params[4]
local days = {}
for j = 5, #params do days[#days + 1] = tonumber(params[j]) end
local full = ARGV[2] == '1'
local events = ARGV[3]
local dedupe = dedupe_ms > 0
local now_hour = math.floor(now / HOUR_MS)

local los, moved = sweep(state, buckets, index, now_hour, keep_hours, days)
local marks = redis.call('HMGET', state, offset_field, ERASED)
local watermark = tonumber(marks[1] or '-1')
-- An erasure subtracted counts since the worker's last reply: answer with every count, and
-- tell the worker to rewrite every trending score (is_full = 2).
local reset = marks[2] ~= false
if reset then redis.call('HDEL', state, ERASED) end
local top = watermark

-- Events above the watermark, in offset order.
local hours, ids, types, n, replayed = {}, {}, {}, 0, 0
local pos, size = 1, #events
while pos <= size do
  local offset, hour, event_id, t
  offset, hour, event_id, t, pos = struct.unpack('>i8i4c16s', events, pos)
  if offset <= watermark then
    replayed = replayed + 1
  else
    n = n + 1
    hours[n], ids[n], types[n] = hour, event_id, t
    if offset > top then top = offset end
  end
end

local known = {}
if dedupe then
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - dedupe_ms))
  if n > 0 then known = mscore(seen, ids) end
end

local min_hour = now_hour - keep_hours
local applied, duplicates = 0, 0
local in_batch, fresh = {}, {}
local bucket_add, bucket_hour, bucket_order = {}, {}, {}
local sum_add, sum_order = {}, {}
for k = 1, n do
  local event_id = ids[k]
  if dedupe and (known[k] or in_batch[event_id]) then
    duplicates = duplicates + 1
  else
    if dedupe then
      in_batch[event_id] = true
      fresh[#fresh + 1] = now
      fresh[#fresh + 1] = event_id
    end
    local hour = hours[k]
    if hour >= min_hour then
      for t in string.gmatch(types[k], '[^,]+') do
        local field = hour .. SEP .. t
        local c = bucket_add[field]
        if c == nil then
          c = 0
          bucket_order[#bucket_order + 1] = field
          bucket_hour[field] = hour
        end
        bucket_add[field] = c + 1
        for j, d in ipairs(days) do
          if hour >= los[j] then
            local sum = d .. SEP .. t
            local s = sum_add[sum]
            if s == nil then
              s = 0
              sum_order[#sum_order + 1] = sum
            end
            sum_add[sum] = s + 1
          end
        end
      end
    end
    applied = applied + 1
  end
end

local new_fields = {}
for _, field in ipairs(bucket_order) do
  local c = bucket_add[field]
  if redis.call('HINCRBY', buckets, field, c) == c then
    new_fields[#new_fields + 1] = bucket_hour[field]
    new_fields[#new_fields + 1] = field
  end
end
if #new_fields > 0 then chunked('ZADD', index, new_fields) end
local changed_counts = {}
for _, sum in ipairs(sum_order) do
  changed_counts[#changed_counts + 1] = sum
  changed_counts[#changed_counts + 1] = redis.call('HINCRBY', state, sum, sum_add[sum])
end
if #fresh > 0 then
  chunked('ZADD', seen, fresh)
  redis.call('PEXPIRE', seen, dedupe_ms)
end

-- The newest bucket and the next due time change only with new buckets or a moved window.
local reshaped = moved or #new_fields > 0
if reshaped then set_expiry(state, buckets, index, now, keep_hours) end
local due = -2
if reshaped or full then due = next_due(index, los, days, keep_hours) end
local updates = {}
if top > watermark then
  updates[#updates + 1] = offset_field
  updates[#updates + 1] = top
end
if due ~= -2 then
  updates[#updates + 1] = DUE
  updates[#updates + 1] = due
end
if #updates > 0 then redis.call('HSET', state, unpack(updates)) end
if reset then
  if due == -2 then due = next_due(index, los, days, keep_hours) end
  return {due, applied, replayed, duplicates, 2, window_counts(state)}
end
if full or moved or replayed > 0 then
  return {due, applied, replayed, duplicates, 1, window_counts(state)}
end
return {due, applied, replayed, duplicates, 0, changed_counts}
