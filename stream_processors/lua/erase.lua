-- Subtracts a forgotten user's events from one feature's counts: exactly the events the
-- worker counted, each at most once.
-- KEYS: state hash, bucket hash, bucket index, erased-event set, dropped-position set (one
--   feature, one slot).
-- ARGV: params events
--   params: "now_ms keep_hours topic d1 .. dn" (topic: the one the worker counts from);
--   events: candidate copies, struct '>i4c16i4i8s': hour bucket, event_id (16 bytes),
--           Kafka partition, offset, comma-separated types (zero-terminated), as the worker
--           counted them (effective types).
-- A copy was counted by the worker exactly when its offset is at or below the feature's
-- watermark for its partition (`o:<topic>:<partition>`: the worker handles a partition in
-- offset order and moves the watermark in the same step as the counts) and its position is
-- not in the dropped set (the worker marks those before the batch that passes them). A copy
-- above the watermark has not been read yet: the worker, which acknowledged the tombstone,
-- will drop it. An event_id already in the erased set was subtracted by an earlier
-- (retried) erasure and is skipped, so any number of retries subtracts once. Buckets older
-- than the longest window are gone already and are skipped. Windows are first moved to now,
-- as apply does, so a bucket is taken from a window sum exactly when the sum holds it. A
-- bucket never goes below zero; one that reaches zero is removed with its index entry.
-- Sets the `erased` flag: the worker's next batch on this feature returns every count and
-- rewrites its trending scores. Returns {subtracted, due, {window field, count, ...},
-- {offset field, ...}, not_counted} (offset fields say which partitions' workers own the
-- feature; not_counted: candidate copies in the windows the worker never counted).
local state, buckets, index, erased, dropped = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local params = {}
for word in string.gmatch(ARGV[1], '%S+') do params[#params + 1] = word end
local now, keep_hours, topic = tonumber(params[1]), tonumber(params[2]), params[3]
local days = {}
for j = 4, #params do days[#days + 1] = tonumber(params[j]) end
local events = ARGV[2]
if redis.call('EXISTS', state) == 0 then
  return {0, -1, {}, {}, 0}
end
local now_hour = math.floor(now / HOUR_MS)
local los = sweep(state, buckets, index, now_hour, keep_hours, days)
local min_hour = now_hour - keep_hours
redis.call('ZREMRANGEBYSCORE', erased, '-inf', '(' .. min_hour)
redis.call('ZREMRANGEBYSCORE', dropped, '-inf', '(' .. min_hour)

local watermarks = {}
local function watermark(partition)
  local w = watermarks[partition]
  if w == nil then
    w = tonumber(redis.call('HGET', state, OFFSET .. topic .. SEP .. partition) or '-1')
    watermarks[partition] = w
  end
  return w
end

-- Candidates in the windows that the worker has read: (hour, id, types, position).
local hours, ids, types, positions, n, not_counted = {}, {}, {}, {}, 0, 0
local pos, size = 1, #events
while pos <= size do
  local hour, event_id, partition, offset, t
  hour, event_id, partition, offset, t, pos = struct.unpack('>i4c16i4i8s', events, pos)
  if hour >= min_hour then
    if offset <= watermark(partition) then
      n = n + 1
      hours[n], ids[n], types[n] = hour, event_id, t
      positions[n] = partition .. SEP .. offset
    else
      not_counted = not_counted + 1
    end
  end
end
local known, skipped = {}, {}
if n > 0 then
  known = mscore(erased, ids)
  skipped = mscore(dropped, positions)
end

local take, take_hour, order, seen, marks = {}, {}, {}, {}, {}
local subtracted = 0
for k = 1, n do
  local event_id = ids[k]
  if skipped[k] then
    not_counted = not_counted + 1
  elseif not known[k] and not seen[event_id] then
    seen[event_id] = true
    subtracted = subtracted + 1
    marks[#marks + 1] = hours[k]
    marks[#marks + 1] = event_id
    for t in string.gmatch(types[k], '[^,]+') do
      local field = hours[k] .. SEP .. t
      if take[field] == nil then
        take[field] = 0
        take_hour[field] = hours[k]
        order[#order + 1] = field
      end
      take[field] = take[field] + 1
    end
  end
end

local gone = {}
for _, field in ipairs(order) do
  local have = tonumber(redis.call('HGET', buckets, field) or '0')
  local c = math.min(have, take[field])
  if c > 0 then
    if have - c == 0 then
      redis.call('HDEL', buckets, field)
      gone[#gone + 1] = field
    else
      redis.call('HINCRBY', buckets, field, -c)
    end
    local hour, t = take_hour[field], type_of(field)
    for j, d in ipairs(days) do
      if hour >= los[j] then redis.call('HINCRBY', state, d .. SEP .. t, -c) end
    end
  end
end
if #gone > 0 then chunked('ZREM', index, gone) end
if #marks > 0 then
  chunked('ZADD', erased, marks)
  local ttl = redis.call('PTTL', state)
  if ttl > 0 then redis.call('PEXPIRE', erased, ttl) end
end
local due = next_due(index, los, days, keep_hours)
redis.call('HSET', state, DUE, due, ERASED, 1)
local offsets = {}
local all = redis.call('HKEYS', state)
for _, f in ipairs(all) do
  if string.sub(f, 1, #OFFSET) == OFFSET then offsets[#offsets + 1] = f end
end
return {subtracted, due, window_counts(state), offsets, not_counted}
