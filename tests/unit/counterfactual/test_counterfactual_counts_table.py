"""Where a boost's counts are computed on the SQL path: once into a scratch table, dropped
after the estimate even when it fails, or inline (with a warning) when the table cannot be
written, unless the caller required it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from interaction_pipeline.counterfactual._sql_boost import SCRATCH_PREFIX, counts_table
from schemas.errors import BackendError

pytestmark = pytest.mark.unit

READONLY = "Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)"


class RecordingBackend:
    """Records every command; fails CREATE with `create_error` when given."""

    def __init__(self, create_error: str | None = None) -> None:
        self.create_error = create_error
        self.commands: list[str] = []

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.commands.append(sql)
        if sql.startswith("CREATE") and self.create_error:
            raise BackendError(self.create_error)


def test_counts_go_to_a_scratch_table_dropped_afterwards() -> None:
    backend = RecordingBackend()
    with counts_table(backend, {}, settings="\nSETTINGS final = 1") as name:  # type: ignore[arg-type]
        assert name is not None and name.startswith(SCRATCH_PREFIX)
        create = backend.commands[0]
        assert create.startswith(f"CREATE TABLE {name} ENGINE = Log AS")
        assert create.endswith("SETTINGS final = 1")
    assert backend.commands[-1] == f"DROP TABLE IF EXISTS {name}"


def test_the_table_is_dropped_when_the_estimate_fails() -> None:
    backend = RecordingBackend()
    with pytest.raises(RuntimeError), counts_table(backend, {}) as name:  # type: ignore[arg-type]
        raise RuntimeError("the estimate failed")
    assert backend.commands[-1] == f"DROP TABLE IF EXISTS {name}"


def test_a_read_only_user_gets_the_counts_inline_and_is_told_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = RecordingBackend(READONLY)
    with counts_table(backend, {}) as name:  # type: ignore[arg-type]
        assert name is None
    assert backend.commands[-1].startswith(f"DROP TABLE IF EXISTS {SCRATCH_PREFIX}")
    assert "computed inline" in caplog.text and "READONLY" in caplog.text


def _open(backend: RecordingBackend, required: bool = False) -> None:
    with counts_table(backend, {}, required=required):  # type: ignore[arg-type]
        pass


def test_a_read_only_user_who_asked_for_the_table_gets_the_error() -> None:
    with pytest.raises(BackendError, match="READONLY"):
        _open(RecordingBackend(READONLY), required=True)

