"""Apply the versioned DDL of sinks/ddl.py; safe to run any number of times."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.errors import BackendError
from sinks._backend import ClickHouseBackend
from sinks.ddl import (
    COL_EVENT_ID,
    DDL_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    MIGRATIONS_TABLE_DDL,
    TableRebuild,
    ttl_statements,
)


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

    Each step's statements are idempotent (`IF NOT EXISTS`), its table rebuilds resume
    (see `rebuild_table`), and a step is recorded only after all of them ran, so an
    interrupted run is finished by the next one.
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
        for rebuild in step.rebuilds:
            rebuild_table(backend, rebuild)
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


def _table_info(backend: ClickHouseBackend, table: str) -> dict[str, object] | None:
    rows = backend.query(
        "SELECT sorting_key, total_rows FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        {"t": table},
    )
    return rows[0] if rows else None


def _partitions(backend: ClickHouseBackend, table: str) -> list[str]:
    rows = backend.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = currentDatabase() AND table = {t:String} AND active "
        "ORDER BY partition_id",
        {"t": table},
    )
    return [str(row["partition_id"]) for row in rows]


def rebuild_table(backend: ClickHouseBackend, step: TableRebuild) -> bool:
    """Give `step.table` its new layout with every row kept; False when it already had it.

    Swap first, copy after: the new layout is created empty under the staging name and
    exchanged with the table in one atomic rename, so writers (a sink on a server) insert
    into the new layout from that moment and nothing they write is left behind; then the
    old rows are copied in one partition at a time (bounded memory and part counts) and the
    old table is dropped. While it copies, queries see the table filling up. A run that was
    interrupted after the swap finds the staging table still there and copies only the rows
    (by event_id, per partition) that did not arrive yet.
    """
    table, staging = step.table, step.staging_table
    info = _table_info(backend, table)
    if info is None:
        raise BackendError(f"cannot rebuild {table}: the table does not exist")
    leftover = _table_info(backend, staging)
    if info["sorting_key"] != step.sorting_key:
        if leftover is not None:
            # A run stopped between creating the staging table and the swap: it is empty.
            if leftover["total_rows"]:
                raise BackendError(
                    f"{staging} exists and holds rows while {table} still has its old "
                    f"layout; look at it and drop it by hand, then run migrate again"
                )
            backend.command(f"DROP TABLE {staging}")
        backend.command(step.staging_ddl())
        backend.command(f"EXCHANGE TABLES {table} AND {staging}")
        for partition in _partitions(backend, staging):
            backend.command(
                f"INSERT INTO {table} SELECT * FROM {staging} WHERE _partition_id = {{p:String}}",
                {"p": partition},
            )
    elif leftover is not None:
        for partition in _partitions(backend, staging):
            backend.command(
                f"INSERT INTO {table} SELECT * FROM {staging} WHERE _partition_id = {{p:String}}"
                f" AND {COL_EVENT_ID} NOT IN (SELECT {COL_EVENT_ID} FROM {table}"
                " WHERE _partition_id = {p:String})",
                {"p": partition},
            )
    else:
        return False
    backend.command(f"DROP TABLE {staging}")
    return True


def require_schema(backend: ClickHouseBackend) -> None:
    """Fail with the fix in the message when `interactions clickhouse migrate` never ran."""
    if max(applied_versions(backend), default=0) < DDL_VERSION:
        raise BackendError(
            "ClickHouse tables are missing or out of date: run `interactions clickhouse migrate`"
        )
