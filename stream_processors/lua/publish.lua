-- Writes a batch's changes to the shared sorted sets (trending sets and due indexes), which
-- share one hash tag so this stays one atomic step in one cluster slot.
-- KEYS: every set touched. ARGV: lines "<key index>\t<score>\t<member>"; score 0 removes.
-- Scores are absolute values, so applying the same lines twice changes nothing; of several
-- lines for one member of one set, the last wins. One ZADD (and one ZREM) per set, not per
-- line: the per-call cost is most of the work.
local by_key = {}
for k, score, member in string.gmatch(ARGV[1], '(%d+)\t([^\t]+)\t([^\n]+)') do
  local i = tonumber(k)
  local members = by_key[i]
  if members == nil then
    members = {}
    by_key[i] = members
  end
  members[member] = score
end
local n = 0
for i, members in pairs(by_key) do
  local adds, removes = {}, {}
  for member, score in pairs(members) do
    if score == '0' then
      removes[#removes + 1] = member
    else
      adds[#adds + 1] = score
      adds[#adds + 1] = member
    end
    n = n + 1
  end
  if #adds > 0 then chunked('ZADD', KEYS[i], adds) end
  if #removes > 0 then chunked('ZREM', KEYS[i], removes) end
end
return n
