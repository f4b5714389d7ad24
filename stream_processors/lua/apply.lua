-- Applies one batch's events to many features, each feature exactly once.
-- KEYS: per feature, 4 keys: state hash, bucket hash, bucket index, event-id set (one feature's
--   keys share a hash tag; on a Redis Cluster the caller sends only features of one slot).
-- ARGV[1]: "now_ms keep_hours dedupe_ms d1 .. dn", once per call;
-- ARGV[2]: the offset fields (`o:<topic>:<partition>`) of the partitions in this call, space
--   separated (topic names hold no spaces);
-- ARGV[2 + k], feature k: struct '>BH': full (1 when the caller holds no earlier reply for this
--   feature), the 1-based position of its partition's offset field in ARGV[2]; then its
--   events, in offset order, struct '>i8i4c16s': offset, hour bucket, event_id (16 bytes),
--   comma-separated types (zero-terminated).
-- One call for many features because the per-call cost (a pipelined EVALSHA costs the client
-- more than the script's work for a feature with one event) dominated batches that touch many
-- features (docs/popularity.md, "Freshness").
-- Per feature: skips events at or below the partition's watermark *of that feature* (Kafka
-- redelivery) and event_ids seen within dedupe_ms or earlier in this batch (client resends);
-- the watermark moves in the same atomic step as the counts, so a crash before or after this
-- script never counts an event twice or loses it, and a retried call skips every feature it
-- already applied. Increments are summed per field first, so a hot feature costs one HINCRBY
-- per (hour, type) and per (window, type), not per event.
-- Returns, per feature in KEYS order, {next_due_ms, applied, replayed, duplicates, is_full,
-- {window field, count, ...}} (is_full 2: an erasure changed the counts since the last reply,
-- see erase.lua): every window count when `full`, after a redelivery (so a crash between this
-- step and the trending write is repaired) or when a window moved; otherwise only the counts
-- this call changed. next_due_ms is -2 when it cannot have changed (no new bucket, no window
-- moved) and the caller holds the previous value; otherwise it is also stored as `due` for
-- readers.
local params = {}
for word in string.gmatch(ARGV[1], '%S+') do params[#params + 1] = word end
local now, keep_hours, dedupe_ms = tonumber(params[1]), tonumber(params[2]), tonumber(params[3])
local days = {}
for j = 4, #params do days[#days + 1] = tonumber(params[j]) end
local offset_fields = {}
for word in string.gmatch(ARGV[2], '%S+') do offset_fields[#offset_fields + 1] = word end
local dedupe = dedupe_ms > 0
local now_hour = math.floor(now / HOUR_MS)
local min_hour = now_hour - keep_hours

local function apply_feature(state, buckets, index, seen, events)
  local full_flag, at, pos = struct.unpack('>BH', events)
  local full = full_flag == 1
  local offset_field = offset_fields[at]
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
  local size = #events
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
end

local replies = {}
for k = 1, #ARGV - 2 do
  local at = 4 * k - 4
  replies[k] = apply_feature(KEYS[at + 1], KEYS[at + 2], KEYS[at + 3], KEYS[at + 4], ARGV[k + 2])
end
return replies
