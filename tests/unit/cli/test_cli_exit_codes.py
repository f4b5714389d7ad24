"""The CLI's error paths end with the documented exit codes and a message, not a traceback.

docs/errors.md: 0 ok; 1 a command failed (ClickHouse, Redis or Kafka); 2 a bad option or
setting; 130 interrupted (Ctrl-C). No service runs here: Redis and ClickHouse "down" are
ports nothing listens on, and the schema is made stale in a chDB folder of the test's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from interaction_pipeline.cli import demo_cmd
from interaction_pipeline.cli.context import get_settings
from interaction_pipeline.cli.main import app
from schemas.settings import Settings
from sinks import migrate, open_backend
from sinks.ddl import DDL_VERSION, MIGRATIONS_TABLE

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
NOTHING_LISTENS = "127.0.0.1:9"  # the discard port: refused at once on a test machine


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test sets its environment first; settings are built once per command."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _clean(result: Result, code: int, *words: str) -> None:
    """Exited with `code` on purpose (typer.Exit), with a message naming the problem."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for word in words:
        assert word in text, text


def test_a_bad_setting_exits_2_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_KEY_PREFIX", "not a prefix!")
    _clean(_invoke("popularity", "doc_1"), 2, "key_prefix")
    get_settings.cache_clear()
    monkeypatch.delenv("REDIS_KEY_PREFIX")
    monkeypatch.setenv("CLICKHOUSE_URL", "mysql://nope")
    _clean(_invoke("list"), 2, "url")


def test_a_bad_option_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _invoke("trending", "--window-days", "0").exit_code == 2


@pytest.mark.parametrize(
    "command", [["popularity", "doc_1"], ["trending"], ["history", "user_1"]], ids=" ".join
)
def test_redis_down_exits_1_with_a_message(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://{NOTHING_LISTENS}/0")
    _clean(_invoke(*command), 1, "Redis")


def test_a_stale_clickhouse_schema_exits_1_and_says_migrate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "chdb"
    backend = open_backend(Settings(clickhouse_url=f"chdb://{folder}"))
    try:
        migrate(backend)
        # as a folder last migrated by the previous release: the newest step never ran
        backend.command(f"TRUNCATE TABLE {MIGRATIONS_TABLE}")
        older = [(v, f"step {v}") for v in range(1, DDL_VERSION)]
        if older:
            backend.insert(MIGRATIONS_TABLE, ("version", "name"), older)
    finally:
        backend.close()
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{folder}")
    monkeypatch.setenv("CHDB_LOCK_TIMEOUT_S", "5")
    for command in (["list"], ["export", "--out", str(tmp_path / "x.jsonl")]):
        _clean(_invoke(*command), 1, "interactions clickhouse migrate")
        get_settings.cache_clear()


def test_the_sink_exits_1_when_clickhouse_fails() -> None:
    """A real `interactions sink` process (it installs signal handlers and Prometheus
    metrics, so not in this process) against a ClickHouse server that does not answer."""
    env = os.environ | {
        "CLICKHOUSE_URL": f"http://{NOTHING_LISTENS}/db",
        "KAFKA_BOOTSTRAP_SERVERS": NOTHING_LISTENS,
        "SINK_DECODE_WORKERS": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "interaction_pipeline.cli.main", "sink", "--quiet"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "sink stopped" in done.stderr


def test_ctrl_c_during_the_demo_exits_130(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupted(*_args: object) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_cmd, "_run", interrupted)
    result = _invoke("demo", "--quick", "--out", str(tmp_path / "demo"), "--no-stack")
    _clean(result, 130, "interrupted")
