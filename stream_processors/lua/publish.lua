-- Writes a batch's changes to the shared sorted sets (trending sets and due indexes), which
-- share one hash tag so this stays one atomic step in one cluster slot.
-- KEYS: every set touched. ARGV: lines "<key index>\t<score>\t<member>"; score 0 removes.
-- Scores are absolute values, so applying the same lines twice changes nothing.
local n = 0
for k, score, member in string.gmatch(ARGV[1], '(%d+)\t([^\t]+)\t([^\n]+)') do
  local key = KEYS[tonumber(k)]
  if score == '0' then
    redis.call('ZREM', key, member)
  else
    redis.call('ZADD', key, score, member)
  end
  n = n + 1
end
return n
