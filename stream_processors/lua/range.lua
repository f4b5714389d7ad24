-- Read only: one feature's counts per type over hour buckets [from_hour, to_hour).
-- KEYS: bucket hash, bucket index. ARGV: from_hour to_hour ('+inf' for no end) type...
-- With no types, every type found is returned. Returns {type, count, type, count, ...}.
local buckets, index = KEYS[1], KEYS[2]
local upper = ARGV[2]
if upper ~= '+inf' then upper = '(' .. upper end
local fields = redis.call('ZRANGEBYSCORE', index, ARGV[1], upper)
local wanted, any = {}, #ARGV == 2
for k = 3, #ARGV do wanted[ARGV[k]] = true end
local totals, order = {}, {}
for k = 1, #fields, 1000 do
  local part = {unpack(fields, k, math.min(k + 999, #fields))}
  local counts = redis.call('HMGET', buckets, unpack(part))
  for n, f in ipairs(part) do
    local t = string.sub(f, string.find(f, '__SEP__', 1, true) + 1)
    if any or wanted[t] then
      if totals[t] == nil then
        totals[t] = 0
        order[#order + 1] = t
      end
      totals[t] = totals[t] + (tonumber(counts[n]) or 0)
    end
  end
end
local out = {}
for _, t in ipairs(order) do
  out[#out + 1] = t
  out[#out + 1] = totals[t]
end
return out
