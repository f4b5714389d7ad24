"""ClickHouse tables: names, columns, versioned idempotent DDL, and how an event fills a row.

Every other part imports table and column names from here (the sink writes with them,
analytics reads with them, GDPR deletes with them). The same DDL runs on a ClickHouse server
and on chDB; the ReplicatedMergeTree/Distributed variants for clusters live in
deploy/clickhouse/ and keep these column lists.

Choices, for the queries users run:

* `interactions`, one row per event. `ORDER BY (feature_id, timestamp, event_id)`: the seed's
  `?feature_id=` lookup reads one key range, newest first in index order. `PARTITION BY`
  month prunes time ranges (every analytics query is "last N days") and makes TTL drop whole
  parts. `user_id` (history, GDPR) and `query_id` get bloom-filter skip indexes and `query`
  a token bloom filter (exact text and word lookups), instead of a second sort order.
  `ReplacingMergeTree`: the sink itself never writes a Kafka message twice (see sinks/), and
  background merges also fold a producer that resent the same event (same event_id, feature
  and timestamp) into one row.
* `search_events`, one row per served result list with `results Array(String)` (index =
  position). One Kafka message is one row (dedupe on event_id like above), the query text is
  stored once rather than once per position, zero-result queries are rows with
  `total_hits = 0`, and per-position questions (CTR by position, skip-above negatives) are an
  `ARRAY JOIN results AS feature_id, arrayEnumerate(results) - 1 AS position` joined to
  interactions on `query_id`. Sorted by day first (schema 2; schema 1 sorted by `query_id`):
  every analytics query reads a date range of searches, and `results` is the largest column
  of the database, so a 7-day report now reads 7 days of it instead of whole months. The
  joins hash `query_id` and never needed its order; the one lookup by id (the training
  export's query text for interactions without one) reads the `query_id` column of the
  table instead of a key range. A day prefix rather than daily partitions: one part per
  month, and no insert that spans 100 days runs into `max_partitions_per_insert_block`.
* Why `interactions` keeps its month partitions and feature-first order although analytics
  read it by time range: daily partitions (or a day prefix) make the seed's `?feature_id=`
  lookup read one granule per day (measured on 10 M rows over 90 days: p50 12 -> 104 ms),
  and a time-ordered projection returns rows that a lightweight `DELETE` (GDPR) removed on
  this ClickHouse (26.x, `lightweight_mutation_projection_mode = 'rebuild'`), or stops merges
  of the parts it dropped the projection from ('drop').
* `sink_rejects`: messages the sink could not decode, with their bytes and the reason, so
  nothing is dropped silently; keyed by Kafka coordinates so a redelivery replaces itself.

Absent optional ids (`user_id`, `session_id`, `retriever_id`, `query_id`, `query`) are stored
as the empty string: the event contract never allows an empty id, so '' is unambiguous, and
plain `String` keeps them usable in keys and skip indexes. `position` and `duration_ms` are
Nullable so that `avg(position)` ignores events that did not say.

Each interaction/search row also carries its Kafka coordinates (`kafka_topic`,
`kafka_partition`, `kafka_offset`): the sink uses them to skip messages that an earlier,
crashed run already inserted, and they make any row traceable to its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import orjson

from schemas.events import SCHEMA_VERSION as WIRE_VERSION
from schemas.events import InteractionEvent, SearchEvent

# --- tables ---------------------------------------------------------------------------------
INTERACTIONS_TABLE: Final = "interactions"
SEARCH_EVENTS_TABLE: Final = "search_events"
REJECTS_TABLE: Final = "sink_rejects"
MIGRATIONS_TABLE: Final = "schema_migrations"

EVENT_TABLES: Final = (INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE)
"""Tables holding user rows: GDPR deletion walks exactly these."""

# --- columns shared by both event tables ----------------------------------------------------
COL_EVENT_ID: Final = "event_id"
COL_TIMESTAMP: Final = "timestamp"
COL_USER_ID: Final = "user_id"
COL_ANONYMOUS_ID: Final = "anonymous_id"
COL_SESSION_ID: Final = "session_id"
COL_RETRIEVER_ID: Final = "retriever_id"
COL_QUERY_ID: Final = "query_id"
COL_QUERY: Final = "query"
COL_METADATA: Final = "metadata"
COL_KAFKA_TOPIC: Final = "kafka_topic"
COL_KAFKA_PARTITION: Final = "kafka_partition"
COL_KAFKA_OFFSET: Final = "kafka_offset"
COL_INSERTED_AT: Final = "inserted_at"

# --- interactions only ----------------------------------------------------------------------
COL_FEATURE_ID: Final = "feature_id"
COL_INTERACTION_TYPE: Final = "interaction_type"
COL_POSITION: Final = "position"
COL_DURATION_MS: Final = "duration_ms"

# --- search_events only ---------------------------------------------------------------------
COL_RESULTS: Final = "results"
COL_TOTAL_HITS: Final = "total_hits"

# --- sink_rejects ---------------------------------------------------------------------------
COL_RECEIVED_AT: Final = "received_at"
COL_KAFKA_KEY: Final = "kafka_key"
COL_PAYLOAD: Final = "payload"
COL_REASON: Final = "reason"

KAFKA_COLUMNS: Final = (COL_KAFKA_TOPIC, COL_KAFKA_PARTITION, COL_KAFKA_OFFSET)

INTERACTION_COLUMNS: Final = (
    COL_EVENT_ID,
    COL_TIMESTAMP,
    COL_FEATURE_ID,
    COL_INTERACTION_TYPE,
    COL_POSITION,
    COL_USER_ID,
    COL_ANONYMOUS_ID,
    COL_SESSION_ID,
    COL_RETRIEVER_ID,
    COL_QUERY_ID,
    COL_QUERY,
    COL_DURATION_MS,
    COL_METADATA,
    *KAFKA_COLUMNS,
)
"""Columns the sink writes, in row order (`inserted_at` is filled by the table)."""

SEARCH_EVENT_COLUMNS: Final = (
    COL_EVENT_ID,
    COL_TIMESTAMP,
    COL_QUERY_ID,
    COL_QUERY,
    COL_RESULTS,
    COL_TOTAL_HITS,
    COL_USER_ID,
    COL_ANONYMOUS_ID,
    COL_SESSION_ID,
    COL_RETRIEVER_ID,
    COL_METADATA,
    *KAFKA_COLUMNS,
)

REJECT_COLUMNS: Final = (
    COL_KAFKA_TOPIC,
    COL_KAFKA_PARTITION,
    COL_KAFKA_OFFSET,
    COL_KAFKA_KEY,
    COL_PAYLOAD,
    COL_REASON,
    COL_RECEIVED_AT,
)

ABSENT: Final = ""
"""How an absent optional id or query is stored (ids are never empty in the contract)."""

TABLE_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    INTERACTIONS_TABLE: INTERACTION_COLUMNS,
    SEARCH_EVENTS_TABLE: SEARCH_EVENT_COLUMNS,
    REJECTS_TABLE: REJECT_COLUMNS,
}

# --- DDL ------------------------------------------------------------------------------------
SEARCH_EVENTS_SORTING_KEY: Final = f"toDate({COL_TIMESTAMP}), {COL_QUERY_ID}, {COL_EVENT_ID}"
"""`search_events` order since schema 2, as `system.tables.sorting_key` prints it. The raw
timestamp is left out on purpose: with it in the key, ClickHouse matches a time condition to
that later key column and no longer prunes by the day prefix. A resent event (same event_id,
query_id and day) still shares its key, so ReplacingMergeTree folds it as before."""

_INTERACTIONS_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {INTERACTIONS_TABLE}
(
    {COL_EVENT_ID} UUID,
    {COL_TIMESTAMP} DateTime64(6, 'UTC'),
    {COL_FEATURE_ID} String,
    {COL_INTERACTION_TYPE} Array(LowCardinality(String)),
    {COL_POSITION} Nullable(UInt16),
    {COL_USER_ID} String,
    {COL_SESSION_ID} String,
    {COL_RETRIEVER_ID} LowCardinality(String),
    {COL_QUERY_ID} String,
    {COL_QUERY} String,
    {COL_DURATION_MS} Nullable(UInt32),
    {COL_METADATA} String CODEC(ZSTD(3)),
    {COL_KAFKA_TOPIC} LowCardinality(String),
    {COL_KAFKA_PARTITION} UInt32,
    {COL_KAFKA_OFFSET} UInt64,
    {COL_INSERTED_AT} DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_user_id {COL_USER_ID} TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query_id {COL_QUERY_ID} TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query {COL_QUERY} TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1,
    INDEX idx_kafka_offset {COL_KAFKA_OFFSET} TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM({COL_TIMESTAMP})
ORDER BY ({COL_FEATURE_ID}, {COL_TIMESTAMP}, {COL_EVENT_ID})
SETTINGS non_replicated_deduplication_window = 1000
"""

_SEARCH_EVENTS_COLUMNS: Final = f"""
    {COL_EVENT_ID} UUID,
    {COL_TIMESTAMP} DateTime64(6, 'UTC'),
    {COL_QUERY_ID} String,
    {COL_QUERY} String,
    {COL_RESULTS} Array(String),
    {COL_TOTAL_HITS} UInt64,
    {COL_USER_ID} String,
    {COL_SESSION_ID} String,
    {COL_RETRIEVER_ID} LowCardinality(String),
    {COL_METADATA} String CODEC(ZSTD(3)),
    {COL_KAFKA_TOPIC} LowCardinality(String),
    {COL_KAFKA_PARTITION} UInt32,
    {COL_KAFKA_OFFSET} UInt64,
    {COL_INSERTED_AT} DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_user_id {COL_USER_ID} TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_query {COL_QUERY} TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1,"""
"""Columns and indexes both schema versions of `search_events` share (one copy, no drift)."""

_SEARCH_EVENTS_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {SEARCH_EVENTS_TABLE}
({_SEARCH_EVENTS_COLUMNS}
    INDEX idx_timestamp {COL_TIMESTAMP} TYPE minmax GRANULARITY 1,
    INDEX idx_kafka_offset {COL_KAFKA_OFFSET} TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM({COL_TIMESTAMP})
ORDER BY ({COL_QUERY_ID}, {COL_TIMESTAMP}, {COL_EVENT_ID})
SETTINGS non_replicated_deduplication_window = 1000
"""

_SEARCH_EVENTS_DDL_V2: Final = f"""
CREATE TABLE IF NOT EXISTS {SEARCH_EVENTS_TABLE}
({_SEARCH_EVENTS_COLUMNS}
    INDEX idx_kafka_offset {COL_KAFKA_OFFSET} TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM({COL_TIMESTAMP})
ORDER BY ({SEARCH_EVENTS_SORTING_KEY})
SETTINGS non_replicated_deduplication_window = 1000
"""
"""Schema 2 of `search_events`: the same columns, sorted by day first (the primary key then
prunes date ranges, which makes the `idx_timestamp` skip index of schema 1 redundant)."""


def _with_anonymous_id(ddl: str) -> str:
    """A schema-1/2 table DDL as schema 3 has it: `anonymous_id` after `user_id`, indexed."""
    return ddl.replace(
        f"    {COL_USER_ID} String,\n",
        f"    {COL_USER_ID} String,\n    {COL_ANONYMOUS_ID} String,\n",
    ).replace(
        f"    INDEX idx_user_id {COL_USER_ID} TYPE bloom_filter(0.01) GRANULARITY 1,\n",
        f"    INDEX idx_user_id {COL_USER_ID} TYPE bloom_filter(0.01) GRANULARITY 1,\n"
        f"    INDEX idx_anonymous_id {COL_ANONYMOUS_ID} TYPE bloom_filter(0.01) GRANULARITY 1,\n",
    )


def _add_anonymous_id(table: str) -> tuple[str, str]:
    """Schema 3 on an existing table (idempotent): the column, then its skip index."""
    return (
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {COL_ANONYMOUS_ID} String "
        f"DEFAULT '' AFTER {COL_USER_ID}",
        f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS idx_anonymous_id {COL_ANONYMOUS_ID} "
        "TYPE bloom_filter(0.01) GRANULARITY 1",
    )


_REJECTS_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {REJECTS_TABLE}
(
    {COL_KAFKA_TOPIC} LowCardinality(String),
    {COL_KAFKA_PARTITION} UInt32,
    {COL_KAFKA_OFFSET} UInt64,
    {COL_KAFKA_KEY} String,
    {COL_PAYLOAD} String CODEC(ZSTD(3)),
    {COL_REASON} String,
    {COL_RECEIVED_AT} DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM({COL_RECEIVED_AT})
ORDER BY ({COL_KAFKA_TOPIC}, {COL_KAFKA_PARTITION}, {COL_KAFKA_OFFSET})
SETTINGS non_replicated_deduplication_window = 1000
"""

_MIGRATIONS_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True, slots=True)
class TableRebuild:
    """Re-create a table with a new sort order, keeping its rows.

    ClickHouse cannot ALTER a table's ORDER BY or PARTITION BY, so the step creates the new
    layout empty, swaps it in under the table's name (EXCHANGE TABLES, atomic: writers never
    see the table missing and write into the new layout from then on), copies the old rows
    in, and drops the old table (sinks._migrate does it and resumes an interrupted run).
    `sorting_key` tells an already rebuilt table from one still to do. Both layouts must
    share the partition key: resuming compares rows partition by partition.
    """

    table: str
    ddl: str
    """`CREATE TABLE IF NOT EXISTS <table> ...` with the new layout."""
    sorting_key: str
    """The new order as `system.tables.sorting_key` prints it."""

    @property
    def staging_table(self) -> str:
        """Holds the new layout before the swap and the old rows after it."""
        return f"{self.table}__rebuild"

    def staging_ddl(self) -> str:
        return self.ddl.strip().replace(
            f"CREATE TABLE IF NOT EXISTS {self.table}\n",
            f"CREATE TABLE {self.staging_table}\n",
        )


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. Statements are idempotent, so a half-applied step can be re-run;
    rebuilds run after the statements and resume where an interrupted run stopped."""

    version: int
    name: str
    statements: tuple[str, ...]
    rebuilds: tuple[TableRebuild, ...] = ()


MIGRATIONS_TABLE_DDL: Final = _MIGRATIONS_DDL.strip()

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "event tables and sink rejects",
        (_INTERACTIONS_DDL.strip(), _SEARCH_EVENTS_DDL.strip(), _REJECTS_DDL.strip()),
    ),
    Migration(
        2,
        "search_events sorted by day first",
        (),
        (
            TableRebuild(
                SEARCH_EVENTS_TABLE, _SEARCH_EVENTS_DDL_V2.strip(), SEARCH_EVENTS_SORTING_KEY
            ),
        ),
    ),
    Migration(
        3,
        "anonymous_id on both event tables (identity across login)",
        (*_add_anonymous_id(INTERACTIONS_TABLE), *_add_anonymous_id(SEARCH_EVENTS_TABLE)),
    ),
)
"""Append only: never edit an applied step, add a new one with the next version."""

DDL_VERSION: Final = MIGRATIONS[-1].version
"""The schema version this code writes and reads; `clickhouse migrate` brings a database to it."""

TTL_TABLES: Final[Mapping[str, str]] = {
    INTERACTIONS_TABLE: COL_TIMESTAMP,
    SEARCH_EVENTS_TABLE: COL_TIMESTAMP,
    REJECTS_TABLE: COL_RECEIVED_AT,
}
"""Tables that follow the retention setting, and the time column their TTL counts from."""


def ttl_clause(table: str, retention_days: int) -> str | None:
    """The TTL a table should have as ClickHouse prints it in `engine_full`, or None."""
    if retention_days <= 0:
        return None
    return f"TTL toDateTime({TTL_TABLES[table]}) + toIntervalDay({int(retention_days)})"


def ttl_statements(retention_days: int, engine_full: Mapping[str, str]) -> list[str]:
    """Statements that make each table's TTL match the setting (0 = keep rows forever).

    Retention is a setting, not a migration: `clickhouse migrate` re-applies it every run.
    `engine_full` maps table -> `system.tables.engine_full`; tables whose TTL already matches
    get no statement, since changing a TTL rewrites every part of the table.
    """
    statements = []
    for table, column in TTL_TABLES.items():
        current = engine_full.get(table, "")
        wanted = ttl_clause(table, retention_days)
        if wanted is None:
            if " TTL " in f" {current} ":
                statements.append(f"ALTER TABLE {table} REMOVE TTL")
        elif wanted not in current:
            statements.append(
                f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) "
                f"+ INTERVAL {int(retention_days)} DAY"
            )
    return statements


# --- clusters -----------------------------------------------------------------------------
CLUSTER_MACRO: Final = "{cluster}"
"""Default cluster name: the server's `cluster` macro, so one file fits every cluster."""

SHARDING_KEYS: Final[Mapping[str, str]] = {
    INTERACTIONS_TABLE: f"cityHash64({COL_FEATURE_ID})",
    SEARCH_EVENTS_TABLE: f"cityHash64({COL_QUERY_ID})",
    REJECTS_TABLE: f"cityHash64({COL_KAFKA_TOPIC}, {COL_KAFKA_PARTITION})",
}
"""Interactions shard like Kafka partitions them (by feature), so a feature's rows and the
copies a producer resent sit on one shard, where ReplacingMergeTree can fold them."""

_TABLE_DDL: Final[Mapping[str, str]] = {
    INTERACTIONS_TABLE: _with_anonymous_id(_INTERACTIONS_DDL),
    SEARCH_EVENTS_TABLE: _with_anonymous_id(_SEARCH_EVENTS_DDL_V2),
    REJECTS_TABLE: _REJECTS_DDL,
}
"""Each table as the newest schema has it (what a fresh cluster or `clickhouse ddl` gets)."""


def single_node_ddl() -> list[str]:
    """The newest schema as plain statements, for `interactions clickhouse ddl`."""
    return [MIGRATIONS_TABLE_DDL, *(ddl.strip() for ddl in _TABLE_DDL.values())]


def local_table(table: str) -> str:
    """Name of the replicated per-shard table behind a Distributed one."""
    return f"{table}_local"


def cluster_ddl(cluster: str = CLUSTER_MACRO) -> str:
    """The same tables for a cluster: ReplicatedReplacingMergeTree `<table>_local` on every
    shard, and a Distributed table under the usual name, so the sink, analytics and the query
    API run unchanged. Rendered into deploy/clickhouse/cluster.sql.
    """
    on_cluster = f"ON CLUSTER '{cluster}'"
    statements = []
    for table, ddl in _TABLE_DDL.items():
        local = local_table(table)
        text = ddl.strip().replace(
            f"CREATE TABLE IF NOT EXISTS {table}\n",
            f"CREATE TABLE IF NOT EXISTS {local} {on_cluster}\n",
        )
        text = text.replace(
            "ENGINE = ReplacingMergeTree\n",
            "ENGINE = ReplicatedReplacingMergeTree("
            f"'/clickhouse/tables/{{shard}}/{{database}}/{local}', '{{replica}}')\n",
        )
        text = text.replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        )
        statements.append(text)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} {on_cluster} AS {local}\n"
            f"ENGINE = Distributed('{cluster}', currentDatabase(), {local}, "
            f"{SHARDING_KEYS[table]})"
        )
    statements.append(
        MIGRATIONS_TABLE_DDL.replace(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}\n",
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} {on_cluster}\n",
        ).replace(
            "ENGINE = ReplacingMergeTree\n",
            "ENGINE = ReplicatedReplacingMergeTree("
            f"'/clickhouse/tables/all/{{database}}/{MIGRATIONS_TABLE}', '{{replica}}')\n",
        )
    )
    statements.extend(
        f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES ({m.version}, '{m.name}')"
        for m in MIGRATIONS
    )
    return ";\n\n".join(statements) + ";\n"


# --- rows -----------------------------------------------------------------------------------
Row = tuple[Any, ...]


def _id(value: str | None) -> str:
    return ABSENT if value is None else value


def _metadata_json(metadata: Mapping[str, Any]) -> str:
    return orjson.dumps(metadata).decode() if metadata else "{}"


def interaction_row(
    event: InteractionEvent, topic: str = ABSENT, partition: int = 0, offset: int = 0
) -> Row:
    """The `interactions` row of one event, in INTERACTION_COLUMNS order.

    The sink builds one per message: the ids are mapped inline rather than through `_id`
    (a call per id was a quarter of this function's cost).
    """
    user_id, anonymous_id = event.user_id, event.anonymous_id
    session_id, retriever_id, query_id = event.session_id, event.retriever_id, event.query_id
    query = event.query
    return (
        event.event_id,
        event.timestamp,
        event.feature_id,
        list(event.interaction_type),
        event.position,
        ABSENT if user_id is None else user_id,
        ABSENT if anonymous_id is None else anonymous_id,
        ABSENT if session_id is None else session_id,
        ABSENT if retriever_id is None else retriever_id,
        ABSENT if query_id is None else query_id,
        ABSENT if query is None else query,
        event.duration_ms,
        _metadata_json(event.metadata),
        topic,
        partition,
        offset,
    )


def search_event_row(
    event: SearchEvent, topic: str = ABSENT, partition: int = 0, offset: int = 0
) -> Row:
    """The `search_events` row of one event, in SEARCH_EVENT_COLUMNS order."""
    return (
        event.event_id,
        event.timestamp,
        event.query_id,
        event.query,
        list(event.results),
        event.total_hits,
        _id(event.user_id),
        _id(event.anonymous_id),
        _id(event.session_id),
        _id(event.retriever_id),
        _metadata_json(event.metadata),
        topic,
        partition,
        offset,
    )


def _iso(value: Any) -> Any:
    """RFC 3339 with a Z, as the wire format writes event times."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _opt(value: Any) -> Any:
    return None if value == ABSENT else value


def interaction_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `interactions` row (as a column -> value mapping) back in the seed's event JSON shape.

    The inverse of `interaction_row` for the fields a client sent; absent ids come back as
    None and `metadata` as the object the client sent.
    """
    event_id = row[COL_EVENT_ID]
    timestamp = row[COL_TIMESTAMP]
    metadata = row[COL_METADATA]
    return {
        "schema_version": WIRE_VERSION,
        "event_id": str(event_id) if isinstance(event_id, UUID) else event_id,
        "timestamp": _iso(timestamp),
        "feature_id": row[COL_FEATURE_ID],
        "interaction_type": list(row[COL_INTERACTION_TYPE]),
        "position": row[COL_POSITION],
        "metadata": orjson.loads(metadata) if isinstance(metadata, str | bytes) else metadata,
        "user_id": _opt(row[COL_USER_ID]),
        "anonymous_id": _opt(row.get(COL_ANONYMOUS_ID, ABSENT)),
        "session_id": _opt(row[COL_SESSION_ID]),
        "retriever_id": _opt(row[COL_RETRIEVER_ID]),
        "query_id": _opt(row[COL_QUERY_ID]),
    }


def search_event_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `search_events` row back in the SearchEvent JSON shape (inverse of the row builder)."""
    event_id = row[COL_EVENT_ID]
    metadata = row[COL_METADATA]
    return {
        "schema_version": WIRE_VERSION,
        "event_id": str(event_id) if isinstance(event_id, UUID) else event_id,
        "timestamp": _iso(row[COL_TIMESTAMP]),
        "query_id": row[COL_QUERY_ID],
        "query": row[COL_QUERY],
        "results": list(row[COL_RESULTS]),
        "total_hits": int(row[COL_TOTAL_HITS]),
        "metadata": orjson.loads(metadata) if isinstance(metadata, str | bytes) else metadata,
        "user_id": _opt(row[COL_USER_ID]),
        "anonymous_id": _opt(row.get(COL_ANONYMOUS_ID, ABSENT)),
        "session_id": _opt(row[COL_SESSION_ID]),
        "retriever_id": _opt(row[COL_RETRIEVER_ID]),
    }
