-- Training pairs: per (query, document), what users did with it, and its role for training.
-- The seed's get_query_document_pairs(date_range, min_interactions); `interactions
-- export-training` streams this query and writes JSONL / Parquet.
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
-- Roles, first match:
--   positive           positive_events >= min_interactions and positive_events > negative_events
--   explicit_negative  negative_events > 0 and negative_events >= positive_events
--   skip_negative      never engaged with for this query, and shown above a clicked result
--                      (in the same search, not clicked there) at least skip_margin times
--                      (clicks in the first 64 positions; a search's clicks are UInt64 bits)
-- Only queries with at least one positive are returned, ordered by query, role, weight.
--
-- Parameters: start, end, retriever (see query_stats.sql),
--   negative_types ('skip,negative_feedback,return_to_results'),
--   conversion_types ('add_to_cart,purchase'),
--   type_names / type_weights (comma lists, same order), custom_weight (1.0),
--   long_view_type ('long_view'), long_view_ms (4000),
--   propensity (comma list of relative propensities for positions 0, 1, ...), clip (20),
--   min_interactions (2), skip_margin (3).
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
    skipped_above AS
    (
        SELECT lowerUTF8(trimBoth(s.query)) AS q, feature_id
        FROM
        (
            SELECT s.query, s.results, c.clicked_mask, c.last_click
            FROM search_events AS s
            INNER JOIN
            (
                SELECT
                    cityHash64(query_id) AS search_key,
                    groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS clicked_mask,
                    max(assumeNotNull(position)) AS last_click
                FROM raw_events
                WHERE query_id != '' AND position < 64
                  AND arrayExists(t -> NOT has(negative_types, t), interaction_type)
                GROUP BY search_key
            ) AS c ON cityHash64(s.query_id) = c.search_key
            WHERE s.timestamp >= range_start AND s.timestamp < range_end + INTERVAL 1 DAY
              AND c.last_click > 0
        ) AS s
        ARRAY JOIN
            arraySlice(s.results, 1, s.last_click) AS feature_id,
            arrayMap(i -> i - 1, arrayEnumerate(arraySlice(s.results, 1, s.last_click))) AS position
        WHERE NOT bitTest(s.clicked_mask, position)
    )
SELECT
    query,
    feature_id,
    role,
    positive_events,
    negative_events,
    skipped_above,
    conversions,
    long_views,
    mean_position,
    propensity,
    ipw,
    strength,
    weight,
    ipw_square_sum,
    clipped_events,
    sumIf(weight, role = 'positive') OVER () AS total_weight,
    countIf(role = 'positive') OVER () AS total_positives
FROM
(
    SELECT *, max(role = 'positive') OVER (PARTITION BY query) AS query_has_positive
    FROM
    (
        SELECT
            q AS query,
            feature_id,
            sum(pos_n) AS positive_events,
            sum(neg_n) AS negative_events,
            sum(skip_n) AS skipped_above,
            sum(conv_n) AS conversions,
            sum(long_n) AS long_views,
            sum(position_sum) / nullIf(sum(position_n), 0) AS mean_position,
            sum(propensity_sum) / nullIf(positive_events, 0) AS propensity,
            sum(ipw_sum) / nullIf(positive_events, 0) AS ipw,
            max(strength_max) AS strength,
            sum(weight_sum) AS weight,
            sum(ipw_square) AS ipw_square_sum,
            sum(clipped_n) AS clipped_events,
            multiIf(
                positive_events >= {min_interactions:UInt32}
                    AND positive_events > negative_events, 'positive',
                negative_events > 0 AND negative_events >= positive_events, 'explicit_negative',
                positive_events = 0 AND skipped_above >= {skip_margin:UInt32}, 'skip_negative',
                ''
            ) AS role
        FROM
        (
            SELECT
                q,
                feature_id,
                countIf(is_pos) AS pos_n,
                countIf(is_neg) AS neg_n,
                0 AS skip_n,
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
                countIf(is_pos AND 1.0 / propensity_at > {clip:Float64}) AS clipped_n
            FROM events
            GROUP BY q, feature_id
            UNION ALL
            SELECT q, feature_id, 0, 0, count(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            FROM skipped_above
            GROUP BY q, feature_id
        )
        GROUP BY q, feature_id
    )
    WHERE role != ''
)
WHERE query_has_positive
ORDER BY
    query,
    indexOf(['positive', 'explicit_negative', 'skip_negative'], role),
    if(role = 'positive', weight, 0) DESC,
    negative_events DESC,
    skipped_above DESC,
    feature_id
