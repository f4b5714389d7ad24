-- Popularity counts of every shown result at the time of its search, for replaying
-- boost_by_interaction_count inside counterfactual_estimate.sql (counterfactual/_sql_boost.py
-- joins this query into that one's searches; run alone, it lists the counts per search).
--
-- One row per answered search (count_key = cityHash64(query_id), as the estimate keys its
-- searches) with `counts`, aligned with its first max_positions results: the weighted count
-- of each shown document in the boost window ending at the search, as the popularity worker
-- keeps it and as counterfactual_counts.sql + counterfactual/_counts.py replay it on the numpy
-- path: interactions of the document (any retriever) with event time in
-- [start of the search's hour - window_ms, search time), each weighted by the sum of
-- boost_type_weights over its types among boost_type_names (long_view added for
-- duration_ms >= long_view_ms). Computed as F(t) - F(window start), F a per-document running
-- sum found by ASOF JOIN: no per-cell scan of a document's interactions.
--
-- Parameters: start, end, retriever, max_positions, long_view_type, long_view_ms (see
--   query_stats.sql); boost_type_names, boost_type_weights (the config's types and their
--   weights, comma-separated); window_ms (the window in milliseconds); counts_start (start
--   of the interactions read: start minus the window minus one hour).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    parseDateTime64BestEffort({counts_start:String}, 3, 'UTC') AS counts_start,
    splitByChar(',', {boost_type_names:String}) AS boost_names,
    arrayMap(w -> toFloat64OrZero(w), splitByChar(',', {boost_type_weights:String}))
        AS boost_weights,
    timeline AS
    (
        SELECT dk, ts, sum(w) OVER (PARTITION BY dk ORDER BY ts) AS cw
        FROM
        (
            SELECT
                cityHash64(feature_id) AS dk,
                toUnixTimestamp64Milli(timestamp) AS ts,
                sum(arraySum(
                    t -> if(has(boost_names, t), boost_weights[indexOf(boost_names, t)], 0.),
                    arrayDistinct(
                        if(ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                               AND NOT has(interaction_type, {long_view_type:String}),
                           arrayPushBack(interaction_type, {long_view_type:String}),
                           interaction_type)))) AS w
            FROM interactions
            WHERE timestamp >= counts_start AND timestamp < range_end
              AND hasAny(interaction_type, arrayConcat(boost_names, [{long_view_type:String}]))
            GROUP BY dk, ts
        )
    )
SELECT
    c.count_key AS count_key,
    arrayMap(x -> x.2, arraySort(groupArray((c.pos, f_end.cw - f_start.cw)))) AS counts
FROM
(
    SELECT
        cityHash64(query_id) AS count_key,
        toUnixTimestamp64Milli(timestamp) AS t,
        intDiv(t, 3600000) * 3600000 - {window_ms:Int64} AS window_start,
        cityHash64(doc) AS dk,
        pos
    FROM search_events
    ARRAY JOIN
        arraySlice(results, 1, {max_positions:UInt16}) AS doc,
        arrayEnumerate(arraySlice(results, 1, {max_positions:UInt16})) AS pos
    WHERE timestamp >= range_start AND timestamp < range_end
      AND ({retriever:String} = '' OR retriever_id = {retriever:String})
) AS c
ASOF LEFT JOIN timeline AS f_end ON c.dk = f_end.dk AND c.t > f_end.ts
ASOF LEFT JOIN timeline AS f_start ON c.dk = f_start.dk AND c.window_start > f_start.ts
GROUP BY count_key
