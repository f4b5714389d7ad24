"""Apply the versioned DDL of schemas/clickhouse_ddl.py; safe to run any number of times."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.clickhouse_ddl import (
    DDL_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    MIGRATIONS_TABLE_DDL,
    ttl_statements,
)
from sinks._backend import BackendError, ClickHouseBackend


@dataclass(slots=True)
class MigrationReport:
    """What `migrate` did: steps newly applied, the version now in place, the retention."""

    applied: list[int] = field(default_factory=list)
    version: int = 0
    retention_days: int = 0


def applied_versions(backend: ClickHouseBackend) -> set[int]:
    """Versions recorded in the migrations table (empty when it does not exist yet)."""
    backend.command(MIGRATIONS_TABLE_DDL)
    rows = backend.query(f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}")
    return {int(row["version"]) for row in rows}


def migrate(backend: ClickHouseBackend, *, retention_days: int = 0) -> MigrationReport:
    """Create or upgrade every table, then make their TTL match `retention_days`.

    Each step's statements are idempotent (`IF NOT EXISTS`), and a step is recorded only
    after all of them ran, so an interrupted run is finished by the next one.
    """
    done = applied_versions(backend)
    newest = max(done, default=0)
    if newest > DDL_VERSION:
        raise BackendError(
            f"the database has schema version {newest}, this code knows up to {DDL_VERSION}:"
            " upgrade interaction-pipeline before running it against this database"
        )
    report = MigrationReport(retention_days=retention_days)
    for step in MIGRATIONS:
        if step.version in done:
            continue
        for statement in step.statements:
            backend.command(statement)
        backend.insert(MIGRATIONS_TABLE, ("version", "name"), [(step.version, step.name)])
        report.applied.append(step.version)
    engines = backend.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
    )
    current = {str(row["name"]): str(row["engine_full"]) for row in engines}
    for statement in ttl_statements(retention_days, current):
        backend.command(statement)
    report.version = DDL_VERSION
    return report


def require_schema(backend: ClickHouseBackend) -> None:
    """Fail with the fix in the message when `interactions clickhouse migrate` never ran."""
    if max(applied_versions(backend), default=0) < DDL_VERSION:
        raise BackendError(
            "ClickHouse tables are missing or out of date: run `interactions clickhouse migrate`"
        )
