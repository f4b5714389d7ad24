-- CTR by position: clicks / impressions per 0-based position, impressions from search events.
--
-- Impressions: every result of every search event in [start, end) (a search with n results
-- shows positions 0 .. n-1). Clicks: interactions of {engaged_types} linked to such a search
-- by query_id, counted once per (search, position), at the position the interaction reports
-- (a search's clicked positions are the bits of a UInt64: up to 64 positions).
--
-- Parameters: start, end, retriever, engaged_types (see query_stats.sql),
--   max_positions (50, at most 64).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {engaged_types:String}) AS engaged
SELECT
    position,
    impressions,
    clicks,
    clicks / impressions AS ctr
FROM
(
    SELECT arrayJoin(range(least(shown, {max_positions:UInt16}))) AS position,
           sum(searches) AS impressions
    FROM
    (
        SELECT length(results) AS shown, count() AS searches
        FROM search_events
        WHERE timestamp >= range_start AND timestamp < range_end
          AND ({retriever:String} = '' OR retriever_id = {retriever:String})
        GROUP BY shown
    )
    GROUP BY position
) AS shown_at
LEFT JOIN
(
    SELECT position, count() AS clicks
    FROM
    (
        SELECT
            arrayJoin(arrayFilter(k -> bitTest(r.clicked_mask, k), range(least(s.shown, 64))))
                AS position
        FROM
        (
            SELECT cityHash64(query_id) AS search_key, length(results) AS shown
            FROM search_events
            WHERE timestamp >= range_start AND timestamp < range_end
              AND ({retriever:String} = '' OR retriever_id = {retriever:String})
        ) AS s
        INNER JOIN
        (
            SELECT cityHash64(query_id) AS search_key,
                   groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS clicked_mask
            FROM interactions
            WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
              AND query_id != '' AND position < least({max_positions:UInt16}, 64)
              AND hasAny(interaction_type, engaged)
            GROUP BY search_key
        ) AS r ON s.search_key = r.search_key
    )
    GROUP BY position
) AS clicked_at USING (position)
ORDER BY position
