CREATE TABLE IF NOT EXISTS interactions_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    timestamp DateTime64(6, 'UTC'),
    feature_id String,
    interaction_type Array(LowCardinality(String)),
    position Nullable(UInt16),
    user_id String,
    anonymous_id String,
    session_id String,
    retriever_id LowCardinality(String),
    query_id String,
    query String,
    duration_ms Nullable(UInt32),
    metadata String CODEC(ZSTD(3)),
    kafka_topic LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_anonymous_id anonymous_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query_id query_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query query TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/interactions_local', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (feature_id, timestamp, event_id)
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS interactions ON CLUSTER '{cluster}' AS interactions_local
ENGINE = Distributed('{cluster}', currentDatabase(), interactions_local, cityHash64(feature_id));

CREATE TABLE IF NOT EXISTS search_events_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    timestamp DateTime64(6, 'UTC'),
    query_id String,
    query String,
    results Array(String),
    total_hits UInt64,
    user_id String,
    anonymous_id String,
    session_id String,
    retriever_id LowCardinality(String),
    metadata String CODEC(ZSTD(3)),
    kafka_topic LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_anonymous_id anonymous_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query query TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/search_events_local', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toDate(timestamp), query_id, event_id)
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS search_events ON CLUSTER '{cluster}' AS search_events_local
ENGINE = Distributed('{cluster}', currentDatabase(), search_events_local, cityHash64(query_id));

CREATE TABLE IF NOT EXISTS sink_rejects_local ON CLUSTER '{cluster}'
(
    kafka_topic LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset UInt64,
    kafka_key String,
    payload String CODEC(ZSTD(3)),
    reason String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/sink_rejects_local', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset)
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS sink_rejects ON CLUSTER '{cluster}' AS sink_rejects_local
ENGINE = Distributed('{cluster}', currentDatabase(), sink_rejects_local, cityHash64(kafka_topic, kafka_partition));

CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER '{cluster}'
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{replica}')
ORDER BY version;

INSERT INTO schema_migrations (version, name) VALUES (1, 'event tables and sink rejects');

INSERT INTO schema_migrations (version, name) VALUES (2, 'search_events sorted by day first');

INSERT INTO schema_migrations (version, name) VALUES (3, 'anonymous_id on both event tables (identity across login)');
