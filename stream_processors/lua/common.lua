-- Shared helpers, prepended to apply.lua, sweep.lua and publish.lua by
-- stream_processors/_scripts.py, which also substitutes the __NAME__ constants from
-- stream_processors/keys.py. Every key apply and sweep touch belongs to one feature (one hash
-- tag, one cluster slot); publish's keys share the prefix's tag.
local SEP = '__SEP__'
local LO = '__LO__'
local DUE = '__DUE__'
local ERASED = '__ERASED__'
local OFFSET = '__OFFSET__'
local HOUR_MS = __HOUR_MS__
local EXPIRY_SLACK_MS = __EXPIRY_SLACK_MS__
local CHUNK = 1000

-- Calls `command key item...` over `items` in chunks (Lua's unpack has a stack limit).
local function chunked(command, key, items)
  local out = {}
  for k = 1, #items, CHUNK do
    local part = redis.call(command, key, unpack(items, k, math.min(k + CHUNK - 1, #items)))
    if type(part) == 'table' then
      for _, v in ipairs(part) do out[#out + 1] = v end
    end
  end
  return out
end

-- ZMSCORE over `members` in chunks: one score (or false) per member, in order.
local function mscore(key, members)
  local out = {}
  for k = 1, #members, CHUNK do
    local part = redis.call('ZMSCORE', key, unpack(members, k, math.min(k + CHUNK - 1, #members)))
    for i = 1, #part do out[#out + 1] = part[i] end
  end
  return out
end

local function type_of(field)
  return string.sub(field, string.find(field, SEP, 1, true) + 1)
end

-- "now_ms keep_hours n d1..dn" from ARGV[at] (the sweep script); returns them and the next
-- position.
local function read_windows(at)
  local now = tonumber(ARGV[at])
  local keep_hours = tonumber(ARGV[at + 1])
  local n = tonumber(ARGV[at + 2])
  local days = {}
  for j = 1, n do days[j] = tonumber(ARGV[at + 2 + j]) end
  return now, keep_hours, days, at + 3 + n
end

-- Moves every window's lower edge (lo:<d>) to now: buckets that aged out are subtracted from
-- its counts (and buckets a clock step backwards brings back are added), then buckets older
-- than the longest window are deleted. Returns the new lower edges and whether any moved;
-- when none did, the feature was already swept at this hour and nothing else can be due.
local function sweep(state, buckets, index, now_hour, keep_hours, days)
  local lo_fields = {}
  for j, d in ipairs(days) do lo_fields[j] = LO .. d end
  local current = redis.call('HMGET', state, unpack(lo_fields))
  local los, moved = {}, false
  for j, d in ipairs(days) do
    local target = now_hour - 24 * d
    local lo = tonumber(current[j])
    if lo ~= target then
      moved = true
      -- A window new to this feature (first event, or a window added to the settings)
      -- starts from every bucket it covers.
      local from, to, sign = lo, '(' .. target, -1
      if lo == nil then
        from, to, sign = target, '+inf', 1
      elseif target < lo then
        from, to, sign = target, '(' .. lo, 1
      end
      local fields = redis.call('ZRANGEBYSCORE', index, from, to)
      if #fields > 0 then
        local counts = chunked('HMGET', buckets, fields)
        for k, f in ipairs(fields) do
          local c = tonumber(counts[k])
          if c then redis.call('HINCRBY', state, d .. SEP .. type_of(f), sign * c) end
        end
      end
      redis.call('HSET', state, lo_fields[j], target)
    end
    los[j] = target
  end
  if moved then
    local old = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. (now_hour - keep_hours))
    if #old > 0 then
      chunked('HDEL', buckets, old)
      chunked('ZREM', index, old)
    end
  end
  return los, moved
end

-- When (epoch ms) the next bucket leaves a window or the longest window; -1 if never.
local function next_due(index, los, days, keep_hours)
  local due = -1
  for j, d in ipairs(days) do
    local first = redis.call('ZRANGEBYSCORE', index, los[j], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #first > 0 then
      local t = (tonumber(first[2]) + 24 * d + 1) * HOUR_MS
      if due < 0 or t < due then due = t end
    end
  end
  local oldest = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
  if #oldest > 0 then
    local t = (tonumber(oldest[2]) + keep_hours + 1) * HOUR_MS
    if due < 0 or t < due then due = t end
  end
  return due
end

-- Redis drops the feature once its newest bucket is older than the longest window (plus
-- slack), so features nobody touches again never need a scan to go away. The TTL is relative
-- to the worker's clock (`now`), not Redis's, so both agree on what "old" means.
local function set_expiry(state, buckets, index, now, keep_hours)
  local newest = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  local ttl = EXPIRY_SLACK_MS
  if #newest > 0 then
    ttl = math.max((tonumber(newest[2]) + keep_hours + 1) * HOUR_MS - now, 0) + EXPIRY_SLACK_MS
    redis.call('PEXPIRE', buckets, ttl)
    redis.call('PEXPIRE', index, ttl)
  end
  redis.call('PEXPIRE', state, ttl)
end

-- Every window count of the feature, zeros included, as a flat field/value list.
local function window_counts(state)
  local all = redis.call('HGETALL', state)
  local out = {}
  for k = 1, #all, 2 do
    local b = string.byte(all[k], 1)
    if b >= 48 and b <= 57 then
      out[#out + 1] = all[k]
      out[#out + 1] = all[k + 1]
    end
  end
  return out
end
