-- Dwell-time distribution of clicks (metadata.duration_ms), in fixed buckets, with quantiles.
--
-- Every bucket is listed, empty ones too, so week-to-week charts line up. Clicks without a
-- duration are not counted. The p* columns repeat on every row (quantiles over all clicks).
-- One scan: the bucket counts are summed as arrays, then unfolded into rows.
--
-- Parameters: start, end, retriever, click_types ('click,long_view').
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {click_types:String}) AS click_types,
    [0, 1000, 4000, 10000, 30000, 60000, 300000] AS bounds
SELECT
    bucket,
    bounds[bucket] AS lower_ms,
    if(bucket < length(bounds), bounds[bucket + 1], NULL) AS upper_ms,
    counts[bucket] AS clicks,
    clicks / nullIf(total, 0) AS share,
    q[1] AS p25_ms,
    q[2] AS p50_ms,
    q[3] AS p75_ms,
    q[4] AS p90_ms
FROM
(
    SELECT
        sumForEach(
            arrayMap(b -> toUInt64(duration_ms >= b.1 AND duration_ms < b.2),
                     arrayZip(bounds, arrayPushBack(arrayPopFront(bounds), 4294967295)))
        ) AS counts,
        count() AS total,
        quantilesExact(0.25, 0.5, 0.75, 0.9)(duration_ms) AS q
    FROM interactions
    WHERE timestamp >= range_start AND timestamp < range_end
      AND ({retriever:String} = '' OR retriever_id = {retriever:String})
      AND duration_ms IS NOT NULL AND hasAny(interaction_type, click_types)
)
ARRAY JOIN arrayEnumerate(bounds) AS bucket
ORDER BY bucket
