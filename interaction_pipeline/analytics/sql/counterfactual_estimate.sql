-- One re-ordering of the logged lists estimated in ClickHouse (counterfactual/_pushdown.py):
-- the IPS, SNIPS and DR sums of docs/counterfactual.md for one 0/1 metric, with the sums of squares
-- a delta-method interval needs and the support figures, for the candidate and for the
-- logged policy, so that only a few numbers leave the database.
--
-- The candidate orders each shown list by the sort key marked `order key` below (ascending,
-- ties in shown order; as shipped, the logged order); _pushdown.py substitutes its expression, written over `doc` (the
-- document id), `pos` (0-based shown position), `len` (list length) and `query` (normalised
-- text). Searches and outcomes are those of counterfactual_searches.sql (same range, same
-- retriever filter, positions past a list's end dropped). Lists must not repeat a document
-- (`repeated` counts those that do; the caller refuses them). Cross-fitting folds are
-- reinterpretAsUInt8(MD5(query_id)) % 2, which a numpy caller can reproduce.
-- A boost candidate (counterfactual/_sql_boost.py) also fills the three `boost` markers: the
-- counts of counterfactual_boost_counts.sql as a CTE joined per search (`counts`, aligned
-- with `shown`) and the logged `scores`, which its sort key reads.
--
-- The metric is 0/1 per position: any interaction of metric_types there (engaged_types for
-- clicks, conversion_types for conversions); the type-weighted reward stays on the numpy path.
--
-- Parameters: start, end, retriever, metric_types, long_view_type, long_view_ms,
--   max_positions, theta (relative examination per position), prior_strength, support_ratio.
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {metric_types:String}) AS wanted,
    {theta:Array(Float64)} AS theta,
    {prior_strength:Float64} AS kappa,
    /* boost counts */
    searches AS
    (
        -- One row per answered search: its shown list, where the candidate puts each
        -- shown document (targets) and the metric at each position (outcomes).
        SELECT
            reinterpretAsUInt8(MD5(s.query_id)) % 2 AS fold,
            lowerUTF8(trimBoth(s.query)) AS query,
            cityHash64(query) AS qk,
            arraySlice(s.results, 1, {max_positions:UInt16}) AS shown,
            length(shown) AS len,
            arrayMap(i -> toInt64(i) - 1, arrayEnumerate(shown)) AS positions,
            -- The shown position at each of the candidate's slots, then its inverse: the
            -- slot of each shown position (sorting integers; no string array is copied).
            arraySort((pos, doc) -> (/* order key */ pos, pos), positions, shown) AS order,
            arraySort((slot, pos) -> pos, positions, order) AS targets,
            arrayUniq(shown) < len AS repeated,
            arrayMap(p -> toFloat64(bitTest(r.mask, p)), positions) AS outcomes
            /* boost columns */
        FROM search_events AS s
        LEFT JOIN
        (
            -- Positions with an interaction of the metric's types (long_view counted
            -- for duration_ms >= long_view_ms), as a bit mask: one pass, no arrays.
            SELECT
                cityHash64(query_id) AS search_key,
                groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS mask
            FROM interactions
            WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
              AND query_id != '' AND position < {max_positions:UInt16}
              AND (hasAny(interaction_type, wanted)
                   OR (has(wanted, {long_view_type:String})
                       AND ifNull(duration_ms, 0) >= {long_view_ms:UInt32}))
            GROUP BY search_key
        ) AS r ON cityHash64(s.query_id) = r.search_key
        /* boost join */
        WHERE s.timestamp >= range_start AND s.timestamp < range_end
          AND length(s.results) > 0
          AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
    ),
    (
        -- Per (query, document): the outcome rate Y/E, the candidate's pooled weight A/E
        -- (examination mass it gives the pair over examinations the logs gave it), the
        -- direct model of each fold fitted on the other fold (query rates through window
        -- sums) and the best position's theta; as arrays, with one index per pair key.
        SELECT
            (groupArray(pk), arrayEnumerate(groupArray(pk)), groupArray(o / e),
             groupArray(mass / e), groupArray(m0), groupArray(m1), groupArray(best))
        FROM
        (
            SELECT
                pk, e, o, mass, best,
                (o1 + kappa * if(qe1 > 0, qo1 / qe1, to1 / greatest(te1, 1e-12)))
                    / (e1 + kappa) AS m0,
                (o0 + kappa * if(qe0 > 0, qo0 / qe0, to0 / greatest(te0, 1e-12)))
                    / (e0 + kappa) AS m1
            FROM
            (
                SELECT
                    *,
                    sum(e0) OVER (PARTITION BY query_key) AS qe0,
                    sum(o0) OVER (PARTITION BY query_key) AS qo0,
                    sum(e1) OVER (PARTITION BY query_key) AS qe1,
                    sum(o1) OVER (PARTITION BY query_key) AS qo1,
                    sum(e0) OVER () AS te0, sum(o0) OVER () AS to0,
                    sum(e1) OVER () AS te1, sum(o1) OVER () AS to1
                FROM
                (
                    SELECT
                        cityHash64(qk, doc) AS pk,
                        any(qk) AS query_key,
                        sum(theta[pos + 1]) AS e,
                        sum(y) AS o,
                        sumIf(theta[pos + 1], fold = 0) AS e0,
                        sumIf(y, fold = 0) AS o0,
                        sumIf(theta[pos + 1], fold = 1) AS e1,
                        sumIf(y, fold = 1) AS o1,
                        sum(theta[target + 1]) AS mass,
                        max(theta[pos + 1]) AS best
                    FROM searches
                    ARRAY JOIN shown AS doc, positions AS pos, targets AS target, outcomes AS y
                    GROUP BY pk
                )
            )
        )
    ) AS pairs
SELECT
    count() AS n,
    sum(repeated) AS repeated,
    sum(ips) AS ips_sum, sum(ips * ips) AS ips_sq,
    sum(snips) AS snips_sum, sum(snips * snips) AS snips_sq,
    sum(dr) AS dr_sum, sum(dr * dr) AS dr_sq,
    sum(logged) AS logged_sum, sum(logged * logged) AS logged_sq,
    sum(ips - logged) AS ips_diff, sum((ips - logged) * (ips - logged)) AS ips_diff_sq,
    sum(snips - logged) AS snips_diff, sum((snips - logged) * (snips - logged)) AS snips_diff_sq,
    sum(dr - logged) AS dr_diff, sum((dr - logged) * (dr - logged)) AS dr_diff_sq,
    sum(slot_exam) AS slot_exam, sum(supported_exam) AS supported_exam,
    sum(length(targets)) AS slots, sum(supported_slots) AS supported_slots,
    sum(changed) AS changed,
    sum(w_sum) AS w_sum, sum(w_sq) AS w_sq, sum(pooled_sum) AS pooled_sum,
    sum(pooled_sq) AS pooled_sq
FROM
(
    -- Per search: its terms (the estimates are their means) and its support counts, with
    -- each cell's pair statistics looked up by key (a hash lookup, no join).
    SELECT
        repeated,
        targets,
        arrayMap(d -> transform(cityHash64(qk, d), pairs.1, pairs.2, 0), shown) AS idx,
        arrayMap(t -> theta[t + 1], targets) AS slot,
        arrayMap(j -> theta[j + 1], positions) AS exam,
        arrayMap((s, x) -> s / x, slot, exam) AS w,
        arrayMap(i -> pairs.4[i], idx) AS pooled,
        arrayMap((i, f) -> if(f = 0, pairs.5[i], pairs.6[i]), idx, arrayResize([fold], len, fold))
            AS model,
        arraySum(outcomes) AS logged,
        arraySum((x, y) -> x * y, w, outcomes) AS ips,
        arraySum((i, s, p, x, y) -> s * pairs.3[i] + p * (y - x * pairs.3[i]),
                 idx, slot, pooled, exam, outcomes) AS snips,
        arraySum((m, s, p, x, y) -> s * m + p * (y - x * m), model, slot, pooled, exam, outcomes)
            AS dr,
        arraySum(slot) AS slot_exam,
        arrayMap((i, s) -> pairs.7[i] >= {support_ratio:Float64} * s - 1e-12, idx, slot)
            AS supported,
        arraySum((s, ok) -> s * ok, slot, supported) AS supported_exam,
        arraySum(supported) AS supported_slots,
        targets != positions AS changed,
        arraySum(w) AS w_sum,
        arraySum(x -> x * x, w) AS w_sq,
        arraySum(pooled) AS pooled_sum,
        arraySum(x -> x * x, pooled) AS pooled_sq
    FROM searches
)
