"""`interactions counterfactual` on simulated traffic stored in chDB as the sink stores it.

The SQL path (search events + interactions -> counterfactual_searches.sql -> arrays) must give
the very logs the simulator produced, and the gate must fail a ranking that is worse (the
logged lists reversed: about 20 % fewer clicks), pass a boost config, and call a ranking of
documents the logs never showed inconclusive.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner, Result

from interaction_pipeline.analytics import DateRange
from interaction_pipeline.cli.context import get_settings
from interaction_pipeline.cli.main import app
from interaction_pipeline.counterfactual import OfflineEvaluation, simulated_logs
from producers.simulator import SimulationConfig, Simulator
from stream_processors import BoostConfig
from tests.analytics_support import chdb_settings, insert_events, migrated_backend

pytestmark = pytest.mark.integration

END = datetime(2025, 3, 1, tzinfo=UTC)
CONFIG = SimulationConfig(searches=12_000, seed=5, end=END, days=14, queries=60, docs=1_000)
RANGE = ["--range", "2025-02-14..2025-02-28"]


@pytest.fixture(scope="module")
def simulator() -> Simulator:
    return Simulator(CONFIG)


@pytest.fixture(scope="module")
def folder(simulator: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("counterfactual") / "chdb"
    backend = migrated_backend(chdb_settings(path))
    try:
        insert_events(backend, simulator.events())
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
    return cli.invoke(app, ["counterfactual", *RANGE, *args])


def test_sql_logs_equal_the_simulated_ones(folder: Path, simulator: Simulator) -> None:
    settings = chdb_settings(folder)
    from sinks import open_backend

    backend = open_backend(settings)
    try:
        logs = OfflineEvaluation(backend, settings).logs(
            DateRange(END - timedelta(days=15), END), k=10
        )
    finally:
        backend.close()
    expected = simulated_logs(simulator)
    assert logs.n == expected.n
    order = np.argsort(np.asarray(logs.query_ids.to_pylist()))
    want = np.argsort(np.asarray(expected.query_ids.to_pylist()))
    for metric in ("clicks", "conversions", "reward"):
        got, exp = logs.outcome(metric)[order], expected.outcome(metric)[want]
        assert np.array_equal(got, exp), metric
    got_docs = np.asarray(logs.docs.to_pylist(), dtype=object)[logs.shown[order]]
    exp_docs = np.asarray(expected.docs.to_pylist(), dtype=object)[expected.shown[want]]
    assert np.array_equal(got_docs, exp_docs)


def _reversed_rankings(folder: Path, path: Path) -> Path:
    from sinks import open_backend

    backend = open_backend(chdb_settings(folder))
    try:
        rows = backend.query(
            "SELECT query_id, results FROM search_events WHERE length(results) > 0"
        )
    finally:
        backend.close()
    path.write_bytes(
        b"\n".join(
            orjson.dumps({"query_id": r["query_id"], "ranking": list(r["results"])[::-1]})
            for r in rows
        )
    )
    return path


def test_gate_fails_a_worse_ranking_with_exit_3(
    cli: CliRunner, folder: Path, tmp_path: Path
) -> None:
    rankings = _reversed_rankings(folder, tmp_path / "reversed.jsonl")
    result = _run(cli, "--candidate", f"reversed=ranking:{rankings}", "--json")
    assert result.exit_code == 3, result.output
    data = orjson.loads(result.stdout)
    (reversed_,) = data["candidates"]
    assert reversed_["verdict"] == "worse"
    assert data["gate"]["failed"] == ["reversed"]
    clicks = reversed_["difference"]["clicks"]["dr"]
    assert clicks["high"] < 0
    logged = data["logged"]["clicks"]
    for estimator in ("ips", "snips", "dr"):
        value = reversed_["estimates"]["clicks"][estimator]["value"]
        assert 0.7 * logged < value < 0.9 * logged, (estimator, value, logged)
    assert reversed_["support"] > 0.8


def test_boost_config_passes_and_reads_counts_at_search_time(cli: CliRunner) -> None:
    config = orjson.dumps(BoostConfig(boost_multiplier=1.3).model_dump()).decode()
    result = _run(cli, "-c", f"b13=boost:{config}", "-c", "b2=boost:{\"boost_multiplier\": 2}",
                  "--baseline", "b13", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output  # the logged policy is never gated
    data = orjson.loads(result.stdout)
    names = [c["name"] for c in data["candidates"]]
    assert names == ["logged", "b13", "b2"]
    assert data["baseline"] == "b13"
    logged, b13, b2 = data["candidates"]
    assert b13["verdict"] == "baseline" and b13["difference"]["clicks"]["dr"]["value"] == 0.0
    assert logged["changed_share"] == 0.0
    assert b2["changed_share"] > 0.1  # the counts of each search's time moved results


def test_unseen_documents_are_inconclusive(cli: CliRunner, folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    rankings = _reversed_rankings(folder, tmp_path / "r.jsonl").read_bytes().splitlines()
    path.write_bytes(
        b"\n".join(
            orjson.dumps({"query_id": orjson.loads(r)["query_id"],
                          "ranking": [f"new_{i}" for i in range(10)]})
            for r in rankings
        )
    )  # fmt: skip
    result = _run(cli, "-c", f"new=ranking:{path}", "--json", "--fail-on-inconclusive")
    assert result.exit_code == 4, result.output
    (candidate,) = orjson.loads(result.stdout)["candidates"]
    assert candidate["verdict"] == "inconclusive"
    assert candidate["support"] == 0.0
    assert candidate["estimates"]["clicks"]["ips"]["value"] == 0.0
    assert candidate["estimates"]["clicks"]["dr"]["value"] > 0  # the model's query rate
    assert any("too thin" in note for note in candidate["notes"])


def test_human_output_and_bad_options(cli: CliRunner) -> None:
    result = _run(cli, "-c", "boost:{}")
    assert result.exit_code == 0, result.output
    assert "clicks per search" in result.stdout and "verdict" in result.stdout
    assert _run(cli, "-c", "nonsense").exit_code == 2
    assert _run(cli, "-c", 'boost:{"boost_multiplier": 0.5}').exit_code == 2
    assert _run(cli, "-c", "boost:{}", "--estimator", "magic").exit_code == 2


def test_order_candidates_run_in_clickhouse_and_gate(cli: CliRunner) -> None:
    result = _run(cli, "-c", "rev=order:-pos", "-c", "same=order:pos", "--json")
    assert result.exit_code == 3, result.output
    data = orjson.loads(result.stdout)
    rev, same = data["candidates"]
    assert rev["verdict"] == "worse" and data["gate"]["failed"] == ["rev"]
    assert set(rev["estimates"]) == {"clicks"}
    assert rev["difference"]["clicks"]["dr"]["high"] < 0
    assert same["verdict"] == "no detectable difference" and same["changed_share"] == 0.0
    assert abs(same["difference"]["clicks"]["dr"]["value"]) < 1e-9
    human = _run(cli, "-c", "rev=order:-pos", "--metric", "conversions")
    assert human.exit_code in (0, 3), human.output
    assert "conversions per search" in human.stdout and "clicks per search" not in human.stdout


def test_order_candidates_refuse_what_the_sql_path_cannot_do(cli: CliRunner) -> None:
    assert _run(cli, "-c", "order:-pos", "-c", "boost:{}").exit_code == 2
    assert _run(cli, "-c", "order:-pos", "--metric", "reward").exit_code == 2
    assert _run(cli, "-c", "order:-pos", "--interval", "bootstrap").exit_code == 2
    assert _run(cli, "-c", "order:pos; DROP TABLE interactions").exit_code == 2


def test_sql_boost_candidates_agree_with_the_numpy_replay(cli: CliRunner) -> None:
    spec = 'b2=boost:{"boost_multiplier": 2}'
    replayed = _run(cli, "-c", spec, "--json")
    in_sql = _run(cli, "-c", spec, "--sql", "--json")
    assert replayed.exit_code in (0, 3), replayed.output
    assert in_sql.exit_code == replayed.exit_code, in_sql.output
    (numpy_b2,) = orjson.loads(replayed.stdout)["candidates"]
    (sql_b2,) = orjson.loads(in_sql.stdout)["candidates"]
    assert sql_b2["name"] == numpy_b2["name"] == "b2"
    assert sql_b2["changed_share"] == pytest.approx(numpy_b2["changed_share"], abs=1e-9)
    # Same counts, same order, same propensities: IPS and SNIPS agree to rounding; DR's
    # direct-method term is fitted by each path on its own (agrees to ~1e-4 here).
    for estimator, rel in (("ips", 1e-9), ("snips", 1e-9), ("dr", 1e-3)):
        got = sql_b2["estimates"]["clicks"][estimator]["value"]
        assert got == pytest.approx(numpy_b2["estimates"]["clicks"][estimator]["value"], rel=rel)
    assert _run(cli, "-c", "boost:{}", "-c", "ranking:x.jsonl", "--sql").exit_code == 2
