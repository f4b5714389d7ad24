-- Results ranked high (position < top_k) but clicked far less than their positions predict.
--
-- For every (query, document) shown in the top_k positions: impressions, clicks, explicit
-- skips, and the clicks expected if it performed like an average result at the positions it
-- was shown (sum over positions of impressions x CTR of that position, all documents
-- together). Listed when it has at least min_impressions and its clicks fall below
-- max_click_ratio x expected: a ranking problem (ranked high, not wanted). Clicks and skips
-- are matched to the result list by the position the interaction reports (kept as bits of a
-- UInt64 per search, so top_k is at most 64).
--
-- Parameters: start, end, retriever, engaged_types (see query_stats.sql),
--   skip_types ('skip'), top_k (3), min_impressions (20), max_click_ratio (0.5), limit (50).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {engaged_types:String}) AS engaged,
    splitByChar(',', {skip_types:String}) AS skip_types
SELECT
    query,
    feature_id,
    impressions,
    clicks,
    skips,
    expected_clicks,
    clicks / nullIf(expected_clicks, 0) AS click_ratio,
    1 - clicks / impressions AS no_click_rate,
    skips / impressions AS skip_rate,
    avg_position
FROM
(
    SELECT
        q AS query,
        feature_id,
        sum(shown) AS impressions,
        sum(clicked) AS clicks,
        sum(skipped) AS skips,
        sum(shown * position_ctr) AS expected_clicks,
        sum(shown * position) / sum(shown) AS avg_position
    FROM
    (
        SELECT
            q, feature_id, position, shown, clicked, skipped,
            sum(clicked) OVER (PARTITION BY position)
                / sum(shown) OVER (PARTITION BY position) AS position_ctr
        FROM
        (
            SELECT
                any(query_text) AS q,
                any(doc) AS feature_id,
                position,
                count() AS shown,
                countIf(bitTest(clicked_mask, position)) AS clicked,
                countIf(bitTest(skipped_mask, position)) AS skipped
            FROM
            (
                SELECT
                    lowerUTF8(trimBoth(s.query)) AS query_text,
                    arraySlice(s.results, 1, {top_k:UInt16}) AS top,
                    r.clicked_mask,
                    r.skipped_mask
                FROM search_events AS s
                LEFT JOIN
                (
                    SELECT
                        cityHash64(query_id) AS search_key,
                        groupBitOrIf(
                            bitShiftLeft(toUInt64(1), assumeNotNull(position)),
                            hasAny(interaction_type, engaged)
                        ) AS clicked_mask,
                        groupBitOrIf(
                            bitShiftLeft(toUInt64(1), assumeNotNull(position)),
                            hasAny(interaction_type, skip_types)
                        ) AS skipped_mask
                    FROM interactions
                    WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
                      AND query_id != '' AND position < least({top_k:UInt16}, 64)
                      AND hasAny(interaction_type, arrayConcat(engaged, skip_types))
                    GROUP BY search_key
                ) AS r ON cityHash64(s.query_id) = r.search_key
                WHERE s.timestamp >= range_start AND s.timestamp < range_end
                  AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
            )
            ARRAY JOIN
                top AS doc,
                arrayMap(i -> toUInt16(i - 1), arrayEnumerate(top)) AS position
            GROUP BY cityHash64(query_text, doc), position
        )
    )
    GROUP BY q, feature_id
)
WHERE impressions >= {min_impressions:UInt32}
  AND clicks < {max_click_ratio:Float64} * expected_clicks
ORDER BY expected_clicks - clicks DESC, query, feature_id
LIMIT {limit:UInt32}
