"""The ClickHouse commands on a real chDB folder: migrate, status, list, export, delete, ddl.

No Kafka here: rows go in through the backend interface with the sink's own row builders.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from interaction_pipeline.cli.context import get_settings
from interaction_pipeline.cli.main import app
from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.wire import to_json_dict
from sinks import migrate, open_backend
from sinks.ddl import (
    DDL_VERSION,
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    interaction_row,
)

pytestmark = pytest.mark.unit

EVENTS = [
    InteractionEvent(
        feature_id=f"doc_{i % 4}",
        interaction_type=["purchase"] if i % 5 == 0 else ["click"],
        position=i % 10,
        user_id=f"user_{i % 3}",
        metadata={"query": "red shoes", "duration_ms": i * 10},
        timestamp=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
    )
    for i in range(60)
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "chdb"
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{path}")
    monkeypatch.setenv("CHDB_LOCK_TIMEOUT_S", "1")
    get_settings.cache_clear()
    backend = open_backend(Settings(clickhouse_url=f"chdb://{path}"))
    try:
        migrate(backend)
        backend.insert(
            INTERACTIONS_TABLE, INTERACTION_COLUMNS, [interaction_row(e) for e in EVENTS]
        )
    finally:
        backend.close()
    yield path
    get_settings.cache_clear()


def _run(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)  # type: ignore[no-any-return]


def test_migrate_is_idempotent_and_status_counts(folder: Path) -> None:
    migrated = _run("clickhouse", "migrate")
    assert migrated == {"applied": [], "version": DDL_VERSION, "retention_days": 0}
    assert _run("clickhouse", "migrate", "--retention-days", "3650")["retention_days"] == 3650
    status = _run("clickhouse", "status")
    assert status["rows"] == {"interactions": 60, "search_events": 0, "sink_rejects": 0}


def test_list_pages_and_cursor(folder: Path) -> None:
    page = _run("list", "--feature-id", "doc_1", "--limit", "5")
    expected = sorted((e for e in EVENTS if e.feature_id == "doc_1"), key=lambda e: e.timestamp)
    assert page["items"] == [to_json_dict(e) for e in reversed(expected)][:5]
    rest = _run("list", "--feature-id", "doc_1", "--limit", "100", "--cursor", page["next_cursor"])
    assert [i["event_id"] for i in page["items"] + rest["items"]] == [
        str(e.event_id) for e in reversed(expected)
    ]
    purchases = _run("list", "--user-id", "user_0", "--type", "purchase")
    assert {i["event_id"] for i in purchases["items"]} == {
        str(e.event_id)
        for e in EVENTS
        if e.user_id == "user_0" and "purchase" in e.interaction_type
    }
    second = _run("list", "--limit", "7", "--page", "2")
    newest = sorted(EVENTS, key=lambda e: e.timestamp, reverse=True)
    assert [i["event_id"] for i in second["items"]] == [str(e.event_id) for e in newest[7:14]]


def test_list_rejects_bad_input_clearly(folder: Path) -> None:
    result = CliRunner().invoke(app, ["list", "--cursor", "garbage!"])
    assert result.exit_code == 2 and "cursor" in result.output
    result = CliRunner().invoke(app, ["list", "--type", "Not A Type"])
    assert result.exit_code == 2 and "lower-case identifier" in result.output


def test_export_jsonl_and_parquet(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    assert _run("export", "--out", str(out))["rows"] == len(EVENTS)
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(lines, key=lambda x: x["event_id"]) == sorted(
        (to_json_dict(e) for e in EVENTS), key=lambda x: x["event_id"]
    )
    parquet = tmp_path / "clicks.parquet"
    summary = _run("export", "--format", "parquet", "--out", str(parquet), "--type", "click")
    table = pq.read_table(parquet)
    clicks = [e for e in EVENTS if "click" in e.interaction_type]
    assert summary["rows"] == table.num_rows == len(clicks)
    assert set(table.column("event_id").to_pylist()) == {str(e.event_id) for e in clicks}
    assert table.column("query").to_pylist()[0] == "red shoes"
    empty = tmp_path / "none.parquet"
    assert _run("export", "-f", "parquet", "-o", str(empty), "--user-id", "nobody")["rows"] == 0
    assert pq.read_table(empty).num_rows == 0


def test_delete_one_interaction(folder: Path) -> None:
    victim = EVENTS[7]
    report = _run("delete", str(victim.event_id))
    assert report["rows_total"] == 1
    remaining = _run("list", "--limit", "1000")["items"]
    assert len(remaining) == len(EVENTS) - 1
    assert str(victim.event_id) not in {i["event_id"] for i in remaining}
    again = CliRunner().invoke(app, ["delete", str(victim.event_id)])
    assert again.exit_code == 4
    bad = CliRunner().invoke(app, ["delete", "not-a-uuid"])
    assert bad.exit_code == 2


def test_cluster_ddl_command_prints_replicated_tables(folder: Path) -> None:
    result = CliRunner().invoke(app, ["clickhouse", "ddl", "--cluster", "prod"])
    assert result.exit_code == 0
    assert "ReplicatedReplacingMergeTree" in result.stdout
    assert "ON CLUSTER 'prod'" in result.stdout


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sinks._chdb import ChdbBackend
    backend = ChdbBackend(Path(sys.argv[1]))
    backend.command("SELECT 1")
    print("holding", flush=True)
    sys.stdin.readline()  # until the test has seen the refusal
    backend.close()
    print("released", flush=True)
    sys.stdin.readline()  # until the test is done
    """
)


def test_a_folder_held_by_another_process_gives_a_clear_error_then_works(folder: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        blocked = CliRunner().invoke(app, ["list", "--json"])
        assert blocked.exit_code == 1
        assert "open in another process" in " ".join(blocked.output.split())
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert len(_run("list", "--limit", "3")["items"]) == 3
    finally:
        holder.kill()
        holder.wait(timeout=30)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


def test_export_to_stdout(folder: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--out", "-", "--feature-id", "doc_2"])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in io.BytesIO(result.stdout_bytes).read().splitlines()]
    assert len(rows) == sum(1 for e in EVENTS if e.feature_id == "doc_2")
