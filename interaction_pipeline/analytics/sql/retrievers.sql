-- Traffic per retriever in [start, end): search events and interactions.
-- The report uses it to list retrievers and to tell whether search events exist at all
-- (without them, CTR falls back to clicks / (clicks + skips)).
--
-- Parameters: start, end (see query_stats.sql).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end
SELECT
    retriever_id,
    sum(searches) AS searches,
    sum(interactions) AS interactions
FROM
(
    SELECT retriever_id, count() AS searches, 0 AS interactions
    FROM search_events
    WHERE timestamp >= range_start AND timestamp < range_end
    GROUP BY retriever_id
    UNION ALL
    SELECT retriever_id, 0 AS searches, count() AS interactions
    FROM interactions
    WHERE timestamp >= range_start AND timestamp < range_end
    GROUP BY retriever_id
)
GROUP BY retriever_id
ORDER BY searches + interactions DESC, retriever_id
