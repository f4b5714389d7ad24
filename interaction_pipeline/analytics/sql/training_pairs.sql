-- Training pairs, step one: everything known about each (query, document), one row each.
-- The seed's get_query_document_pairs(date_range, min_interactions); `interactions
-- export-training` streams this query and analytics/export.py picks positives and hard
-- negatives from it one query at a time (the thresholds are export options, unit-tested there).
--
-- Events: interactions in [start, end) (of one retriever, or all), their query text from
-- metadata.query or else from the linked search event. long_view is added to an event whose
-- duration_ms reaches long_view_ms. An event is positive when it has a type outside
-- negative_types, negative when it has one of negative_types.
--
-- Per positive event: strength = largest weight among its positive types (type_names ->
-- type_weights, custom types custom_weight: purchase > long_view > click), and inverse
-- propensity ipw = least(1 / propensity[position], clip), propensity relative to position 0
-- (position unknown: 1). weight = sum over the pair's positive events of strength x ipw
-- (propensity '1' switches the correction off). ipw_square_sum (sum of ipw^2) lets the
-- caller compute the effective sample size the correction leaves.
--
-- Impressions: search events in [start, end) (of the retriever), their first 64 results (a
-- search's engaged positions are UInt64 bits), with the engaged interactions linked by
-- query_id up to a day after `end` (as click_counts.sql). Per (query, document):
--   impressions   times shown
--   clicks        impressions engaged with (any positive event at that search and position)
--   examinations  sum over impressions of propensity[position]: expected examinations in
--                 units of position 0, so clicks / examinations is the position-based
--                 model's relevance estimate given the propensities ('1': raw click rate)
--   skipped_above impressions shown above an engaged result of the same search, not engaged
-- query_clicks / query_examinations sum those over the query (the prior the export shrinks
-- each document's estimate toward).
--
-- Rows: every (query, document) with an event or an impression, of the queries where some
-- document has positive_events >= min_interactions and positive_events > negative_events
-- (candidate_positive; candidate_positives / candidate_weight total them, an upper bound of
-- what the export keeps). Ordered by query, then feature_id.
--
-- Parameters: start, end, retriever (see query_stats.sql),
--   negative_types ('skip,negative_feedback,return_to_results'),
--   conversion_types ('add_to_cart,purchase'),
--   type_names / type_weights (comma lists, same order), custom_weight (1.0),
--   long_view_type ('long_view'), long_view_ms (4000),
--   propensity (comma list of relative propensities for positions 0, 1, ...), clip (20),
--   min_interactions (2).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {negative_types:String}) AS negative_types,
    splitByChar(',', {conversion_types:String}) AS conversion_types,
    splitByChar(',', {type_names:String}) AS type_names,
    arrayMap(x -> toFloat64(x), splitByChar(',', {type_weights:String})) AS type_weights,
    arrayMap(x -> toFloat64(x), splitByChar(',', {propensity:String})) AS prop,
    raw_events AS
    (
        SELECT query, query_id, feature_id, interaction_type, position, duration_ms
        FROM interactions
        WHERE timestamp >= range_start AND timestamp < range_end
          AND ({retriever:String} = '' OR retriever_id = {retriever:String})
    ),
    events AS
    (
        SELECT
            q, feature_id, position,
            if(
                ifNull(duration_ms, 0) >= {long_view_ms:UInt32}
                    AND NOT has(interaction_type, {long_view_type:String}),
                arrayPushBack(interaction_type, {long_view_type:String}),
                interaction_type
            ) AS types,
            hasAny(types, negative_types) AS is_neg,
            arrayFilter(t -> NOT has(negative_types, t), types) AS positive_types,
            notEmpty(positive_types) AS is_pos,
            arrayMax(
                arrayMap(
                    t -> if(indexOf(type_names, t) > 0, type_weights[indexOf(type_names, t)],
                            {custom_weight:Float64}),
                    positive_types
                )
            ) AS strength,
            if(position IS NULL, 1.0, prop[least(assumeNotNull(position), length(prop) - 1) + 1])
                AS propensity_at,
            least(1.0 / propensity_at, {clip:Float64}) AS ipw
        FROM
        (
            SELECT lowerUTF8(trimBoth(query)) AS q, feature_id, interaction_type, position,
                   duration_ms
            FROM raw_events
            WHERE query != ''
            UNION ALL
            SELECT lowerUTF8(trimBoth(s.query)) AS q, e.feature_id, e.interaction_type,
                   e.position, e.duration_ms
            FROM raw_events AS e
            INNER JOIN
            (
                SELECT query_id, any(query) AS query
                FROM search_events
                WHERE query_id IN (SELECT query_id FROM raw_events WHERE query = '' AND query_id != '')
                GROUP BY query_id
            ) AS s ON e.query_id = s.query_id
            WHERE e.query = '' AND e.query_id != ''
        )
    ),
    clicked AS
    (
        SELECT
            cityHash64(query_id) AS search_key,
            groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS clicked_mask,
            max(assumeNotNull(position)) AS last_click
        FROM interactions
        WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
          AND ({retriever:String} = '' OR retriever_id = {retriever:String})
          AND query_id != '' AND position < 64
          AND arrayExists(t -> NOT has(negative_types, t), interaction_type)
        GROUP BY search_key
    ),
    shown AS
    (
        SELECT
            q,
            feature_id,
            count() AS impressions,
            countIf(bitTest(clicked_mask, position)) AS clicks,
            sum(prop[least(position, length(prop) - 1) + 1]) AS examinations,
            countIf(has_click AND position < last_click AND NOT bitTest(clicked_mask, position))
                AS skipped_above
        FROM
        (
            SELECT lowerUTF8(trimBoth(s.query)) AS q, s.results, c.clicked_mask, c.last_click,
                   c.search_key != 0 AS has_click
            FROM search_events AS s
            LEFT JOIN clicked AS c ON cityHash64(s.query_id) = c.search_key
            WHERE s.timestamp >= range_start AND s.timestamp < range_end
              AND ({retriever:String} = '' OR s.retriever_id = {retriever:String})
              AND notEmpty(s.results)
        )
        ARRAY JOIN
            arraySlice(results, 1, 64) AS feature_id,
            arrayMap(i -> toUInt64(i - 1), arrayEnumerate(arraySlice(results, 1, 64))) AS position
        GROUP BY q, feature_id
    )
SELECT
    query,
    feature_id,
    positive_events,
    negative_events,
    conversions,
    long_views,
    mean_position,
    propensity,
    ipw,
    strength,
    weight,
    ipw_square_sum,
    clipped_events,
    impressions,
    clicks,
    examinations,
    skipped_above,
    sum(clicks) OVER (PARTITION BY query) AS query_clicks,
    sum(examinations) OVER (PARTITION BY query) AS query_examinations,
    candidate_positive,
    sumIf(weight, candidate_positive) OVER () AS candidate_weight,
    countIf(candidate_positive) OVER () AS candidate_positives
FROM
(
    SELECT *, max(candidate_positive) OVER (PARTITION BY query) AS query_has_candidate
    FROM
    (
        SELECT
            q AS query,
            feature_id,
            sum(pos_n) AS positive_events,
            sum(neg_n) AS negative_events,
            sum(conv_n) AS conversions,
            sum(long_n) AS long_views,
            sum(position_sum) / nullIf(sum(position_n), 0) AS mean_position,
            sum(propensity_sum) / nullIf(positive_events, 0) AS propensity,
            sum(ipw_sum) / nullIf(positive_events, 0) AS ipw,
            max(strength_max) AS strength,
            sum(weight_sum) AS weight,
            sum(ipw_square) AS ipw_square_sum,
            sum(clipped_n) AS clipped_events,
            sum(impressions_n) AS impressions,
            sum(clicks_n) AS clicks,
            sum(examinations_sum) AS examinations,
            sum(skip_n) AS skipped_above,
            positive_events >= {min_interactions:UInt32}
                AND positive_events > negative_events AS candidate_positive
        FROM
        (
            SELECT
                q,
                feature_id,
                countIf(is_pos) AS pos_n,
                countIf(is_neg) AS neg_n,
                countIf(hasAny(types, conversion_types)) AS conv_n,
                countIf(has(types, {long_view_type:String})) AS long_n,
                sumIf(toFloat64(ifNull(position, 0)), is_pos AND position IS NOT NULL)
                    AS position_sum,
                countIf(is_pos AND position IS NOT NULL) AS position_n,
                sumIf(propensity_at, is_pos) AS propensity_sum,
                sumIf(ipw, is_pos) AS ipw_sum,
                maxIf(strength, is_pos) AS strength_max,
                sumIf(strength * ipw, is_pos) AS weight_sum,
                sumIf(ipw * ipw, is_pos) AS ipw_square,
                countIf(is_pos AND 1.0 / propensity_at > {clip:Float64}) AS clipped_n,
                0 AS impressions_n,
                0 AS clicks_n,
                0.0 AS examinations_sum,
                0 AS skip_n
            FROM events
            GROUP BY q, feature_id
            UNION ALL
            SELECT q, feature_id, 0, 0, 0, 0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0,
                   impressions, clicks, examinations, skipped_above
            FROM shown
        )
        GROUP BY q, feature_id
    )
)
WHERE query_has_candidate
ORDER BY query, feature_id
