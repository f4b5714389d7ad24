-- Adds tombstones and moves the version in one atomic step (one slot: the prefix's tag).
-- KEYS: tombstone hash, version counter. ARGV: now_ms keep_ms then pairs subject, ranges
--   ranges: "since:until,..." (ms) to add to the subject's.
-- A stored value is "<created_ms>;<ranges>"; tombstones created more than keep_ms ago are
-- dropped here, so the set stays as small as the deletions of the retention period.
-- Returns the new version.
local tomb, ver = KEYS[1], KEYS[2]
local now, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', tomb)
for k = 1, #all, 2 do
  local created = tonumber(string.match(all[k + 1], '^(%-?%d+);'))
  if created and created < now - keep then redis.call('HDEL', tomb, all[k]) end
end
for k = 3, #ARGV, 2 do
  local subject, ranges = ARGV[k], ARGV[k + 1]
  local current = redis.call('HGET', tomb, subject)
  local value = now .. ';' .. ranges
  if current then
    local old = string.match(current, ';(.*)$') or ''
    if string.find(',' .. old .. ',', ',' .. ranges .. ',', 1, true) then
      value = nil  -- a retried deletion: this range is there already
    elseif old ~= '' then
      value = now .. ';' .. old .. ',' .. ranges
    end
  end
  if value then redis.call('HSET', tomb, subject, value) end
end
return redis.call('INCR', ver)
