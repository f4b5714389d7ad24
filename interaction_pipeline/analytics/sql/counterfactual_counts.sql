-- Interactions as popularity counts saw them, for replaying boost_by_interaction_count at the
-- time of each logged search (`interactions counterfactual` with a boost candidate).
--
-- One row per interaction with a positive weight: feature_id, event time in epoch ms, and
-- weight = the sum over its types (long_view added for duration_ms >= long_view_ms, as the
-- popularity worker derives it) of that type's weight in type_names/type_weights. The caller
-- passes the boost config's types and weights there, and starts the range one window before
-- the first search. Counts are per feature across retrievers, as in Redis.
--
-- Parameters: start, end, type_names, type_weights, long_view_type, long_view_ms
--   (see query_stats.sql).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {type_names:String}) AS names,
    arrayMap(w -> toFloat64OrZero(w), splitByChar(',', {type_weights:String})) AS weights
SELECT feature_id, ts_ms, weight
FROM
(
    SELECT
        feature_id,
        toUnixTimestamp64Milli(timestamp) AS ts_ms,
        arraySum(
            t -> if(has(names, t), weights[indexOf(names, t)], 0.),
            arrayDistinct(
                if(ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                       AND NOT has(interaction_type, {long_view_type:String}),
                   arrayPushBack(interaction_type, {long_view_type:String}),
                   interaction_type))) AS weight
    FROM interactions
    WHERE timestamp >= range_start AND timestamp < range_end
      AND hasAny(interaction_type, arrayConcat(names, [{long_view_type:String}]))
)
WHERE weight > 0
