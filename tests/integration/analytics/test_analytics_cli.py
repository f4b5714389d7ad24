"""`interactions report`, `bias` and `export-training` end to end on a chDB folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from interaction_pipeline.cli.context import get_settings
from interaction_pipeline.cli.main import app
from tests.analytics_support import chdb_settings, hand_dataset, insert_events, migrated_backend

pytestmark = pytest.mark.integration

RANGE = ["--range", "2025-01-01..2025-01-14"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "chdb"
    backend = migrated_backend(chdb_settings(path))
    try:
        insert_events(backend, hand_dataset())
    finally:
        backend.close()  # the CLI opens the folder itself
    return path


@pytest.fixture
def cli(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{folder}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, list(args))


def test_report_exits_3_on_a_regression(cli: CliRunner) -> None:
    result = _run(cli, "report", *RANGE, "--retriever", "r1", "--min-weekly-volume", "1", "--json")
    assert result.exit_code == 3, result.output
    data = orjson.loads(result.stdout)
    assert "ctr" in data["regressions"]
    assert data["headline"]["searches"] == 8


def test_report_exits_0_without_enough_volume_to_judge(cli: CliRunner) -> None:
    result = _run(cli, "report", *RANGE, "--retriever", "r1")
    assert result.exit_code == 0, result.output
    assert "CTR by position" in result.stdout


def test_report_says_when_it_falls_back(cli: CliRunner) -> None:
    result = _run(cli, "report", *RANGE, "--retriever", "r3")
    assert result.exit_code == 0, result.output
    assert "clicks + skips" in result.output


def test_bias_json_feeds_export_training(cli: CliRunner, tmp_path: Path) -> None:
    result = _run(cli, "bias", *RANGE, "--max-positions", "4", "--json")
    assert result.exit_code == 0, result.output
    estimate = orjson.loads(result.stdout)
    assert [p["position"] for p in estimate["positions"]] == [0, 1, 2, 3]
    assert all(p["source"] == "prior" for p in estimate["positions"])  # far too little data
    assert any("prior" in note for note in estimate["notes"])
    saved = tmp_path / "bias.json"
    saved.write_text(result.stdout)
    out = tmp_path / "pairs.parquet"
    result = _run(
        cli, "export-training", str(out), *RANGE, "--retriever", "r1", "--min-interactions", "1",
        "--bias", str(saved), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert (summary["format"], summary["pairs"], summary["bias_source"]) == ("parquet", 5, "prior")
    assert out.is_file()


def test_export_training_sentence_transformers_layout(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "st.jsonl"
    result = _run(
        cli, "export-training", str(out), *RANGE, "--layout", "sentence-transformers",
        "--min-interactions", "1", "--no-ipw", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert rows and all(list(r) == ["anchor", "positive", "negative"] for r in rows)


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--range", "yesterday-ish"],
        ["export-training", "x.jsonl", "--layout", "csv"],
        ["export-training", "x.jsonl", "--clip", "0.5"],
    ],
)
def test_bad_options_are_usage_errors(cli: CliRunner, args: list[str]) -> None:
    result = _run(cli, *args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_missing_tables_say_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{tmp_path / 'empty'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["report"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "migrate" in result.output
