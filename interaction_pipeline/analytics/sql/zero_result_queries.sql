-- Zero-result queries (content gaps): searches with total_hits = 0, per normalised query.
--
-- share_of_searches is relative to every search in the range and retriever.
--
-- Parameters: start, end, retriever (see query_stats.sql), limit (50).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    (
        SELECT count()
        FROM search_events
        WHERE timestamp >= range_start AND timestamp < range_end
          AND ({retriever:String} = '' OR retriever_id = {retriever:String})
    ) AS all_searches
SELECT
    lowerUTF8(trimBoth(query)) AS query,
    count() AS searches,
    searches / all_searches AS share_of_searches,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM search_events
WHERE timestamp >= range_start AND timestamp < range_end
  AND ({retriever:String} = '' OR retriever_id = {retriever:String})
  AND total_hits = 0
GROUP BY query
ORDER BY searches DESC, query
LIMIT {limit:UInt32}
