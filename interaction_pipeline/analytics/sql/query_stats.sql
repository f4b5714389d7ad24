-- Relevance statistics per query, and their total over every search: the report's headline.
--
-- One pass: search events joined to their interactions on cityHash64(query_id) (a 64-bit
-- key joins about twice as fast as the id strings). Every search in [start, end) is counted
-- under its normalised query text (lower case, trimmed; kind 'query') and in the total
-- (kind 'total', query ''); every search in [previous_start, previous_end) in a second total
-- (kind 'previous'), which is how the report compares a week with the one before in the same
-- pass (an empty window, previous_start = previous_end, leaves it out). A click is an
-- interaction of {engaged_types} linked to the search, once per (search, document);
-- interactions up to one day after a window's end still count. Each search is aggregated once
-- per window it is in (period 0 = [start, end), 1 = the previous one), per query and rolled
-- up into the window's total (GROUP BY ... WITH ROLLUP), rather than once per output row.
--
-- Columns: searches, zero_result_searches, zero_result_rate, answered_searches, impressions
-- (results shown), clicks, ctr (clicks / impressions), searches_with_click, search_ctr and
-- no_click_rate (over answered searches), searches_with_conversion, conversion_rate (per
-- answered search), long_clicks (dwell >= long_view_ms or long_view), long_click_share,
-- avg_first_click_position (0-based), mean/median_time_to_first_click_s.
--
-- Rows: the total rows; the `limit` busiest queries with at least min_searches answered
-- searches (busy_rank 1, 2, ...: time to first click and first-click position per query); the
-- `limit` queries with the most impressions among those with at least min_impressions and a
-- CTR below max_ctr (low_ctr_rank 1, 2, ...: queries that need tuning). limit 0: totals only.
--
-- Parameters (clickhouse-client --param_<name>=...):
--   start, end        ISO-8601 times, UTC ('2025-01-01', '2025-01-08T00:00:00Z'); end exclusive
--   previous_start, previous_end   the comparison window, same format (may be empty)
--   retriever         retriever_id, or '' for every retriever
--   engaged_types     'click,long_view,add_to_cart,purchase'
--   conversion_types  'add_to_cart,purchase'
--   long_view_type    'long_view'
--   long_view_ms      4000
--   min_searches (10), min_impressions (100), max_ctr (0.05), limit (50)
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    parseDateTime64BestEffort({previous_start:String}, 3, 'UTC') AS previous_start,
    parseDateTime64BestEffort({previous_end:String}, 3, 'UTC') AS previous_end,
    splitByChar(',', {engaged_types:String}) AS engaged,
    splitByChar(',', {conversion_types:String}) AS conversion_types
SELECT *
FROM
(
    SELECT
        *,
        if(busy, row_number() OVER (PARTITION BY busy ORDER BY answered_searches DESC, query), 0)
            AS busy_rank,
        if(low_ctr, row_number() OVER (PARTITION BY low_ctr ORDER BY impressions DESC, query), 0)
            AS low_ctr_rank
    FROM
    (
        SELECT
            multiIf(grouping(q) = 0, 'query', period = 0, 'total', 'previous') AS kind,
            if(kind = 'query', q, '') AS query,
            count() AS searches,
            countIf(total_hits = 0) AS zero_result_searches,
            zero_result_searches / searches AS zero_result_rate,
            searches - zero_result_searches AS answered_searches,
            sum(shown) AS impressions,
            sum(search_clicks) AS clicks,
            clicks / nullIf(impressions, 0) AS ctr,
            countIf(search_clicks > 0) AS searches_with_click,
            searches_with_click / nullIf(answered_searches, 0) AS search_ctr,
            1 - search_ctr AS no_click_rate,
            countIf(converted) AS searches_with_conversion,
            searches_with_conversion / nullIf(answered_searches, 0) AS conversion_rate,
            sum(search_long_clicks) AS long_clicks,
            long_clicks / nullIf(clicks, 0) AS long_click_share,
            avgIf(first_position, search_clicks > 0 AND first_position >= 0)
                AS avg_first_click_position,
            avgIf(seconds_to_click, search_clicks > 0) AS mean_time_to_first_click_s,
            quantileExactIf(0.5)(seconds_to_click, search_clicks > 0)
                AS median_time_to_first_click_s,
            kind = 'query' AND answered_searches >= {min_searches:UInt32} AS busy,
            kind = 'query' AND impressions >= {min_impressions:UInt32}
                AND ifNull(ctr < {max_ctr:Float64}, 0) AS low_ctr
        FROM
        (
            SELECT
                lowerUTF8(trimBoth(s.query)) AS q,
                s.total_hits,
                length(s.results) AS shown,
                r.clicks AS search_clicks,
                r.long_clicks AS search_long_clicks,
                r.converted,
                r.first_position,
                greatest(0, dateDiff('millisecond', s.timestamp, r.first_click_at)) / 1000
                    AS seconds_to_click,
                s.timestamp >= range_start AND s.timestamp < range_end AS in_range,
                s.timestamp >= previous_start AND s.timestamp < previous_end AS in_previous
            FROM search_events AS s
            LEFT JOIN
            (
                SELECT
                    cityHash64(query_id) AS search_key,
                    uniqExact(cityHash64(feature_id)) AS clicks,
                    uniqExactIf(
                        cityHash64(feature_id),
                        has(interaction_type, {long_view_type:String})
                            OR ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                    ) AS long_clicks,
                    countIf(hasAny(interaction_type, conversion_types)) > 0 AS converted,
                    min(timestamp) AS first_click_at,
                    argMin(ifNull(toInt32(position), -1), timestamp) AS first_position
                FROM interactions
                WHERE timestamp >= least(range_start, previous_start)
                  AND timestamp < greatest(range_end, previous_end) + INTERVAL 1 DAY
                  AND query_id != '' AND hasAny(interaction_type, engaged)
                GROUP BY search_key
            ) AS r ON cityHash64(s.query_id) = r.search_key
            WHERE (in_range OR in_previous)
              AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
        )
        -- [0] in range, [1] in the previous window, [0, 1] in both (overlapping windows)
        ARRAY JOIN range(toUInt8(NOT in_range), toUInt8(in_previous) + 1) AS period
        GROUP BY period, q WITH ROLLUP
        HAVING grouping(period) = 0
           AND (grouping(q) = 1 OR (period = 0 AND {limit:UInt32} > 0))
    )
)
WHERE kind != 'query'
   OR busy_rank BETWEEN 1 AND {limit:UInt32}
   OR low_ctr_rank BETWEEN 1 AND {limit:UInt32}
ORDER BY kind = 'query', kind DESC, busy_rank = 0, busy_rank, low_ctr_rank, query
