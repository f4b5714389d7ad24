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
-- duration_ms >= long_view_ms). Computed as F(t) - F(window start), F a document's running
-- sum, per document with arrays (no join per cell): its interactions (key 2 ts + 1) and two
-- probes per shown cell (keys 2 t and 2 window start: an interaction at t is left out, one at
-- the window start counted) sorted by key once, the running sum of the weights read at the
-- probes. With the cells in time order, both probe sequences come out of the sort in that
-- order (window start is monotone in t), so no inverse permutation is needed. Two ASOF JOIN
-- probes per cell computed the same and cost 1.8x the CPU on 10M events
-- (docs/counterfactual.md, Performance).
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
        AS boost_weights
SELECT
    count_key,
    arrayMap(x -> x.2, arraySort(groupArray((pos, c)))) AS counts
FROM
(
    -- Per document: ne interactions, n shown cells.
    SELECT
        length(ek) AS ne,
        length(ct) AS n,
        arraySort((i, t) -> t, arrayEnumerate(ct), ct) AS by_time,
        arrayConcat(ek, arrayMap(x -> x * 2, ct), arrayMap(x -> x * 2, cws)) AS keys,
        arraySort((i, k) -> k, arrayEnumerate(keys), keys) AS sorted_idx,
        arrayCumSum(arrayMap(i -> if(i <= ne, ew[i], 0.), sorted_idx)) AS cum,
        arrayFilter((f, i) -> i > ne AND i <= ne + n, cum, sorted_idx) AS f_end,
        arrayFilter((f, i) -> i > ne + n, cum, sorted_idx) AS f_start,
        arrayMap(i -> ck[i], by_time) AS cell_keys,
        arrayMap(i -> cp[i], by_time) AS cell_positions,
        arrayMap((a, b) -> a - b, f_end, f_start) AS cell_counts
    FROM
    (
        SELECT
            cityHash64(doc) AS dk,
            groupArray(toUnixTimestamp64Milli(timestamp)) AS ct,
            arrayMap(t -> intDiv(t, 3600000) * 3600000 - {window_ms:Int64}, ct) AS cws,
            groupArray(cityHash64(query_id)) AS ck,
            groupArray(toUInt16(pos)) AS cp
        FROM search_events
        ARRAY JOIN
            arraySlice(results, 1, {max_positions:UInt16}) AS doc,
            arrayEnumerate(arraySlice(results, 1, {max_positions:UInt16})) AS pos
        WHERE timestamp >= range_start AND timestamp < range_end
          AND ({retriever:String} = '' OR retriever_id = {retriever:String})
        GROUP BY dk
    ) AS c
    LEFT JOIN
    (
        SELECT
            cityHash64(feature_id) AS dk,
            groupArray(toUnixTimestamp64Milli(timestamp) * 2 + 1) AS ek,
            groupArray(arraySum(
                t -> if(has(boost_names, t), boost_weights[indexOf(boost_names, t)], 0.),
                arrayDistinct(
                    if(ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                           AND NOT has(interaction_type, {long_view_type:String}),
                       arrayPushBack(interaction_type, {long_view_type:String}),
                       interaction_type)))) AS ew
        FROM interactions
        WHERE timestamp >= counts_start AND timestamp < range_end
          AND hasAny(interaction_type, arrayConcat(boost_names, [{long_view_type:String}]))
        GROUP BY dk
    ) AS e ON c.dk = e.dk
)
ARRAY JOIN cell_keys AS count_key, cell_positions AS pos, cell_counts AS c
GROUP BY count_key
