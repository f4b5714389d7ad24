-- CTR proxy by position for deployments without search events: clicks / (clicks + skips).
--
-- Unclicked results that the client did not report as skipped are invisible here, so this
-- overstates CTR; it still shows the shape of the position curve.
--
-- Parameters: start, end, retriever, click_types ('click,long_view'), skip_types ('skip'),
-- max_positions (50).
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {click_types:String}) AS click_types,
    splitByChar(',', {skip_types:String}) AS skip_types
SELECT
    assumeNotNull(position) AS position,
    countIf(hasAny(interaction_type, click_types)) AS clicks,
    countIf(hasAny(interaction_type, skip_types)) AS skips,
    clicks / nullIf(clicks + skips, 0) AS ctr_proxy
FROM interactions
WHERE timestamp >= range_start AND timestamp < range_end
  AND ({retriever:String} = '' OR retriever_id = {retriever:String})
  AND position IS NOT NULL AND position < {max_positions:UInt16}
  AND hasAny(interaction_type, arrayConcat(click_types, skip_types))
GROUP BY position
ORDER BY position
