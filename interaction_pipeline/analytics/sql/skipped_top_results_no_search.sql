-- Results ranked high (position < top_k) that users skip, without search events.
--
-- Only what clients report is visible: clicks and explicit skips per (query, document) at
-- positions below top_k. Listed when clicks + skips >= min_impressions and the skip rate
-- skips / (clicks + skips) is at least min_skip_rate.
--
-- Parameters: start, end, retriever, click_types ('click,long_view'), skip_types ('skip'),
--   top_k (3), min_impressions (20), min_skip_rate (0.5), limit (50).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {click_types:String}) AS click_types,
    splitByChar(',', {skip_types:String}) AS skip_types
SELECT
    lowerUTF8(trimBoth(query)) AS query,
    feature_id,
    countIf(hasAny(interaction_type, click_types)) AS clicks,
    countIf(hasAny(interaction_type, skip_types)) AS skips,
    skips / nullIf(clicks + skips, 0) AS skip_rate,
    avg(position) AS avg_position
FROM interactions
WHERE timestamp >= range_start AND timestamp < range_end
  AND ({retriever:String} = '' OR retriever_id = {retriever:String})
  AND position < {top_k:UInt16}
  AND query != ''
  AND hasAny(interaction_type, arrayConcat(click_types, skip_types))
GROUP BY query, feature_id
HAVING clicks + skips >= {min_impressions:UInt32} AND skip_rate >= {min_skip_rate:Float64}
ORDER BY skips DESC, query, feature_id
LIMIT {limit:UInt32}
