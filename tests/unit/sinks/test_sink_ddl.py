"""The DDL: applies on chDB, matches the column constants, migrates idempotently, and the
cluster variant in deploy/ is current and parses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from sinks import BackendError, ClickHouseBackend, migrate, open_backend, require_schema
from sinks.ddl import (
    DDL_VERSION,
    INTERACTIONS_TABLE,
    MIGRATIONS_TABLE,
    REJECTS_TABLE,
    TABLE_COLUMNS,
    cluster_ddl,
    interaction_row,
    search_event_row,
    ttl_statements,
)

pytestmark = pytest.mark.unit

CLUSTER_SQL = Path(__file__).resolve().parents[3] / "deploy" / "clickhouse" / "cluster.sql"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    opened = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    yield opened
    opened.close()


def test_tables_have_exactly_the_columns_the_constants_name(backend: ClickHouseBackend) -> None:
    migrate(backend)
    for table, columns in TABLE_COLUMNS.items():
        described = [r["name"] for r in backend.query(f"DESCRIBE TABLE {table}")]
        assert [c for c in described if c != "inserted_at"] == list(columns), table
    interaction = InteractionEvent(feature_id="d", interaction_type=["click"])
    search = SearchEvent(query="q", total_hits=0)
    assert len(interaction_row(interaction)) == len(TABLE_COLUMNS[INTERACTIONS_TABLE])
    assert len(search_event_row(search)) == len(TABLE_COLUMNS["search_events"])


def test_migrate_is_idempotent_and_versioned(backend: ClickHouseBackend) -> None:
    with pytest.raises(BackendError, match="clickhouse migrate"):
        require_schema(backend)
    assert migrate(backend).applied == list(range(1, DDL_VERSION + 1))
    assert migrate(backend).applied == []
    require_schema(backend)
    versions = backend.query(f"SELECT version FROM {MIGRATIONS_TABLE} FINAL ORDER BY version")
    assert [r["version"] for r in versions] == list(range(1, DDL_VERSION + 1))


def test_migrate_refuses_a_database_newer_than_the_code(backend: ClickHouseBackend) -> None:
    migrate(backend)
    backend.insert(MIGRATIONS_TABLE, ("version", "name"), [(DDL_VERSION + 1, "future")])
    with pytest.raises(BackendError, match="upgrade interaction-pipeline"):
        migrate(backend)


def test_retention_ttl_is_applied_changed_and_removed(backend: ClickHouseBackend) -> None:
    def ttl(table: str) -> str:
        sql = "SELECT engine_full FROM system.tables WHERE name = {t:String}"
        return str(backend.query(sql, {"t": table})[0]["engine_full"])

    migrate(backend, retention_days=30)
    assert "toIntervalDay(30)" in ttl(INTERACTIONS_TABLE)
    assert "toIntervalDay(30)" in ttl(REJECTS_TABLE)
    migrate(backend, retention_days=90)
    assert "toIntervalDay(90)" in ttl(INTERACTIONS_TABLE)
    migrate(backend, retention_days=0)
    assert " TTL " not in ttl(INTERACTIONS_TABLE)


def test_ttl_statements_only_touch_tables_that_differ() -> None:
    current = {INTERACTIONS_TABLE: "MergeTree TTL toDateTime(timestamp) + toIntervalDay(30)"}
    statements = ttl_statements(30, current)
    assert not any(INTERACTIONS_TABLE + " " in s for s in statements)
    assert len(statements) == 2
    assert ttl_statements(0, current) == [f"ALTER TABLE {INTERACTIONS_TABLE} REMOVE TTL"]


def test_cluster_sql_is_current_and_every_statement_parses(backend: ClickHouseBackend) -> None:
    text = CLUSTER_SQL.read_text()
    assert text == cluster_ddl(), "regenerate: see deploy/clickhouse/README.md"
    statements = [s.strip() for s in cluster_ddl().split(";") if s.strip()]
    assert len(statements) == 3 * 2 + 1 + DDL_VERSION
    for statement in statements:
        formatted = backend.query("SELECT formatQuery({q:String}) AS f", {"q": statement})
        assert formatted[0]["f"]
