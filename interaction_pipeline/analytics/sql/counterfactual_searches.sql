-- Logged searches for counterfactual (off-policy) evaluation (`interactions counterfactual`):
-- one row per answered search event, with its shown results and what came back per position.
--
-- query is normalised (lower case, trimmed) as in click_counts.sql; ts_ms is the search's
-- event time in epoch milliseconds; results are the first max_positions results as shown;
-- scores are metadata.scores when the logger wrote them (else []); epsilon, depth and swap
-- are the logged randomisation metadata.exploration (epsilon 0: none; swap -1: no swap).
-- Outcomes are interactions linked by query_id at a position < max_positions, one entry per
-- position with any: clicked = an engaged type, converted = a conversion type, reward = the
-- sum of the weights of every positive type seen there, once per type (long_view added for
-- duration_ms >= long_view_ms).
--
-- Parameters: start, end, retriever, engaged_types, conversion_types, type_names,
--   type_weights, long_view_type, long_view_ms (see query_stats.sql), max_positions.
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {engaged_types:String}) AS engaged,
    splitByChar(',', {conversion_types:String}) AS conversions,
    splitByChar(',', {type_names:String}) AS names,
    arrayMap(w -> toFloat64OrZero(w), splitByChar(',', {type_weights:String})) AS weights
SELECT
    s.query_id AS query_id,
    lowerUTF8(trimBoth(s.query)) AS query,
    toUnixTimestamp64Milli(s.timestamp) AS ts_ms,
    arraySlice(s.results, 1, {max_positions:UInt16}) AS results,
    JSONExtract(s.metadata, 'scores', 'Array(Float64)') AS scores,
    JSONExtractFloat(s.metadata, 'exploration', 'epsilon') AS epsilon,
    toInt32(JSONExtractInt(s.metadata, 'exploration', 'depth')) AS depth,
    toInt32(ifNull(JSONExtract(s.metadata, 'exploration', 'swap', 'Nullable(Int64)'), -1)) AS swap,
    r.positions AS positions,
    r.clicked AS clicked,
    r.converted AS converted,
    r.reward AS reward
FROM search_events AS s
LEFT JOIN
(
    SELECT
        search_key,
        groupArray(p) AS positions,
        groupArray(toUInt8(hasAny(types, engaged))) AS clicked,
        groupArray(toUInt8(hasAny(types, conversions))) AS converted,
        groupArray(arraySum(t -> if(has(names, t), weights[indexOf(names, t)], 0.), types))
            AS reward
    FROM
    (
        SELECT
            cityHash64(query_id) AS search_key,
            assumeNotNull(position) AS p,
            groupUniqArrayArray(
                if(ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                       AND NOT has(interaction_type, {long_view_type:String}),
                   arrayPushBack(interaction_type, {long_view_type:String}),
                   interaction_type)) AS types
        FROM interactions
        WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
          AND query_id != '' AND position < {max_positions:UInt16}
        GROUP BY search_key, p
    )
    GROUP BY search_key
) AS r ON cityHash64(s.query_id) = r.search_key
WHERE s.timestamp >= range_start AND s.timestamp < range_end
  AND length(s.results) > 0
  AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
