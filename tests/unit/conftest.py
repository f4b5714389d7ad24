"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.settings import Settings
from sinks import migrate, open_backend
from sinks._arrow import table_schema
from sinks.ddl import TABLE_COLUMNS


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Schema]:
    """The sink's Arrow schemas, from a migrated chDB folder (closed again: one per process)."""
    folder = tmp_path_factory.mktemp("schemas") / "chdb"
    backend = open_backend(Settings(clickhouse_url=f"chdb://{folder}"))
    try:
        migrate(backend)
        return {t: table_schema(backend, t, c) for t, c in TABLE_COLUMNS.items()}
    finally:
        backend.close()
