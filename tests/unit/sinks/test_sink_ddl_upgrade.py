"""Schema 2 rebuilds `search_events` with a day-first order: a database made by schema 1
upgrades through `migrate` with every row kept, again and again, and after an interruption."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.events import SearchEvent
from schemas.settings import Settings
from sinks import BackendError, ClickHouseBackend, migrate, open_backend
from sinks._migrate import rebuild_table
from sinks.ddl import (
    COL_ANONYMOUS_ID,
    DDL_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    MIGRATIONS_TABLE_DDL,
    SEARCH_EVENT_COLUMNS,
    SEARCH_EVENTS_SORTING_KEY,
    SEARCH_EVENTS_TABLE,
    search_event_row,
)

pytestmark = pytest.mark.unit

REBUILD = MIGRATIONS[1].rebuilds[0]
_AT = SEARCH_EVENT_COLUMNS.index(COL_ANONYMOUS_ID)
SCHEMA_2_COLUMNS = SEARCH_EVENT_COLUMNS[:_AT] + SEARCH_EVENT_COLUMNS[_AT + 1 :]
"""Schemas 1 and 2 had no anonymous_id (schema 3 added it)."""


def _row(event: SearchEvent) -> tuple[object, ...]:
    row = search_event_row(event)
    return row[:_AT] + row[_AT + 1 :]

START = datetime(2025, 3, 25, tzinfo=UTC)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    opened = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    yield opened
    opened.close()


def _schema_1(backend: ClickHouseBackend, searches: int = 300) -> list[SearchEvent]:
    """A database as schema 1 left it, with searches over two month partitions."""
    backend.command(MIGRATIONS_TABLE_DDL)
    for statement in MIGRATIONS[0].statements:
        backend.command(statement)
    backend.insert(MIGRATIONS_TABLE, ("version", "name"), [(1, MIGRATIONS[0].name)])
    events = [
        SearchEvent(
            query=f"q{i % 7}",
            results=[f"d{i}", f"d{i + 1}"],
            total_hits=2,
            timestamp=START + timedelta(hours=5 * i),
        )
        for i in range(searches)
    ]
    backend.insert(SEARCH_EVENTS_TABLE, SCHEMA_2_COLUMNS, [_row(e) for e in events])
    return events


def _sorting_key(backend: ClickHouseBackend, table: str = SEARCH_EVENTS_TABLE) -> str:
    rows = backend.query(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
        "AND name = {t:String}",
        {"t": table},
    )
    return str(rows[0]["sorting_key"]) if rows else ""


def _stored(backend: ClickHouseBackend) -> list[str]:
    rows = backend.query(f"SELECT toString(event_id) AS id FROM {SEARCH_EVENTS_TABLE}")
    return sorted(str(r["id"]) for r in rows)


def test_schema_1_database_upgrades_with_every_row(backend: ClickHouseBackend) -> None:
    events = _schema_1(backend)
    assert _sorting_key(backend) == "query_id, timestamp, event_id"
    assert migrate(backend).applied == list(range(2, DDL_VERSION + 1))
    assert _sorting_key(backend) == SEARCH_EVENTS_SORTING_KEY
    assert _stored(backend) == sorted(str(e.event_id) for e in events)
    assert _sorting_key(backend, REBUILD.staging_table) == ""  # the old table is gone
    assert migrate(backend).applied == []
    assert len(_stored(backend)) == len(events)


def test_primary_key_prunes_a_date_range(backend: ClickHouseBackend) -> None:
    migrate(backend)
    backend.command(
        f"INSERT INTO {SEARCH_EVENTS_TABLE} ({', '.join(SCHEMA_2_COLUMNS)}) "
        "SELECT generateUUIDv4(number), {t:DateTime64(6)} + toIntervalSecond(number * 30), "
        "concat('q', toString(cityHash64(number))), 'q', ['d'], 1, 'u', 's', 'r', '{}', "
        "'t', 0, number FROM numbers(100000)",
        {"t": START},
    )
    backend.command(f"OPTIMIZE TABLE {SEARCH_EVENTS_TABLE} FINAL")
    plan = backend.query(
        f"EXPLAIN indexes = 1 SELECT count() FROM {SEARCH_EVENTS_TABLE} "
        "WHERE timestamp >= {a:DateTime64(6)} AND timestamp < {b:DateTime64(6)}",
        {"a": START + timedelta(days=10), "b": START + timedelta(days=11)},
    )
    lines = [str(next(iter(r.values()))).strip() for r in plan]
    after_key = lines[lines.index("PrimaryKey") :]
    chosen, total = next(x for x in after_key if x.startswith("Granules:")).split()[1].split("/")
    assert int(chosen) < int(total) / 5, lines


def test_rebuild_resumes_after_the_swap(backend: ClickHouseBackend) -> None:
    """Interrupted after EXCHANGE with half of the rows copied: the next run copies the
    rest once, and rows a writer added to the new table meanwhile stay."""
    events = _schema_1(backend)
    backend.command(REBUILD.staging_ddl())
    backend.command(f"EXCHANGE TABLES {SEARCH_EVENTS_TABLE} AND {REBUILD.staging_table}")
    backend.command(
        f"INSERT INTO {SEARCH_EVENTS_TABLE} SELECT * FROM {REBUILD.staging_table} "
        "WHERE timestamp < {t:DateTime64(6)}",
        {"t": START + timedelta(days=20)},
    )
    late = SearchEvent(query="late", results=[], total_hits=0, timestamp=START)
    backend.insert(SEARCH_EVENTS_TABLE, SCHEMA_2_COLUMNS, [_row(late)])
    assert rebuild_table(backend, REBUILD) is True
    assert _stored(backend) == sorted([str(e.event_id) for e in events] + [str(late.event_id)])
    assert rebuild_table(backend, REBUILD) is False


def test_rebuild_restarts_before_the_swap_and_keeps_a_staging_table_with_rows(
    backend: ClickHouseBackend,
) -> None:
    events = _schema_1(backend, searches=20)
    backend.command(REBUILD.staging_ddl())  # interrupted right after creating it
    assert rebuild_table(backend, REBUILD) is True
    assert _stored(backend) == sorted(str(e.event_id) for e in events)

    # Old layout again, with a staging table that holds rows: never dropped silently.
    backend.command(f"DROP TABLE {SEARCH_EVENTS_TABLE}")
    backend.command(MIGRATIONS[0].statements[1])
    backend.command(REBUILD.staging_ddl())
    backend.insert(REBUILD.staging_table, SCHEMA_2_COLUMNS, [_row(e) for e in events])
    with pytest.raises(BackendError, match="drop it by hand"):
        rebuild_table(backend, REBUILD)
