-- Impressions and clicks per (query, document, position): the input of position-bias
-- estimation (`interactions bias`), one row per pair and position.
--
-- pair is cityHash64(normalised query, feature_id). Impressions come from search events
-- (the first max_positions results of each); a click is an engaged interaction linked by
-- query_id, once per (search, position), at the position the interaction reports. A search's
-- clicked positions are kept as bits of a UInt64 (tiny per-search state, so max_positions
-- is at most 64).
--
-- Parameters: start, end, retriever, engaged_types (see query_stats.sql),
--   max_positions (50, at most 64).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {engaged_types:String}) AS engaged
SELECT
    cityHash64(q, feature_id) AS pair,
    position,
    count() AS impressions,
    countIf(bitTest(clicked_mask, position)) AS clicks
FROM
(
    SELECT lowerUTF8(trimBoth(s.query)) AS q, s.results, r.clicked_mask
    FROM search_events AS s
    LEFT JOIN
    (
        SELECT
            cityHash64(query_id) AS search_key,
            groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS clicked_mask
        FROM interactions
        WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
          AND query_id != '' AND position < {max_positions:UInt16}
          AND hasAny(interaction_type, engaged)
        GROUP BY search_key
    ) AS r ON cityHash64(s.query_id) = r.search_key
    WHERE s.timestamp >= range_start AND s.timestamp < range_end
      AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
)
ARRAY JOIN
    arraySlice(results, 1, {max_positions:UInt16}) AS feature_id,
    arrayMap(i -> toUInt16(i - 1), arrayEnumerate(arraySlice(results, 1, {max_positions:UInt16}))) AS position
GROUP BY pair, position
