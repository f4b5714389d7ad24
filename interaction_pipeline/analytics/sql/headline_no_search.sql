-- Headline metrics for deployments that send no search events (interactions only).
--
-- Without impressions, CTR cannot be computed; the proxy is clicks / (clicks + skips).
-- Conversion rate is per click (conversions / clicks). The first click of a search is the
-- earliest click with the same query_id, or, without query_id, with the same session and
-- query text. Time to first click needs the search's own time and is not available.
--
-- Parameters:
--   start, end, retriever          as in query_stats.sql
--   click_types       'click,long_view'
--   skip_types        'skip'
--   conversion_types  'add_to_cart,purchase'
--   long_view_type    'long_view'
--   long_view_ms      4000
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {click_types:String}) AS click_types,
    splitByChar(',', {skip_types:String}) AS skip_types,
    splitByChar(',', {conversion_types:String}) AS conversion_types
SELECT
    sum(clicks) AS clicks,
    sum(skips) AS skips,
    clicks / nullIf(clicks + skips, 0) AS ctr_proxy,
    sum(conversions_) AS conversions,
    conversions / nullIf(clicks, 0) AS conversion_rate,
    sum(long_clicks) AS long_clicks,
    long_clicks / nullIf(clicks, 0) AS long_click_share,
    avgIf(first_position, first_position >= 0) AS avg_first_click_position
FROM
(
    SELECT
        countIf(hasAny(interaction_type, click_types)) AS clicks,
        countIf(hasAny(interaction_type, skip_types)) AS skips,
        countIf(hasAny(interaction_type, conversion_types)) AS conversions_,
        countIf(
            hasAny(interaction_type, click_types)
                AND (has(interaction_type, {long_view_type:String})
                     OR ifNull(duration_ms, 0) >= {long_view_ms:UInt32})
        ) AS long_clicks,
        if(
            clicks > 0,
            argMinIf(ifNull(toInt32(position), -1), timestamp, hasAny(interaction_type, click_types)),
            -1
        ) AS first_position
    FROM interactions
    WHERE timestamp >= range_start AND timestamp < range_end
      AND ({retriever:String} = '' OR retriever_id = {retriever:String})
    GROUP BY if(query_id != '', query_id, concat(session_id, '\0', lowerUTF8(trimBoth(query))))
)
