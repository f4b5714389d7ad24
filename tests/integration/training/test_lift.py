"""The lift experiment end to end through the real stack (Kafka, the HTTP collector, the SDK,
the ClickHouse sink on chDB): a tiny generated dataset with a fake embedder, and Cranfield
with the real model (slow; needs ../shared/data/cranfield)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from interaction_pipeline.lift import (
    ClickModel,
    LiftConfig,
    TrafficPlan,
    run_lift,
    synthetic_dataset,
)
from interaction_pipeline.orchestration import CLI, settings_env
from schemas.settings import Settings
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.integration

CRANFIELD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cranfield"
CRANFIELD_TIMEOUT_S = 900
SPLITS = ("held_out_sessions", "held_out_queries")
METRICS = {"ndcg@10", "recall@10", "mrr@10"}


def _check_shape(report: dict, seeds: list[int]) -> None:
    assert set(report) >= {"splits", "ablations", "seeds", "timing", "config", "traffic"}
    for split in SPLITS:
        s = report["splits"][split]
        assert set(s["base"]) == set(s["tuned"]) == METRICS
        assert isinstance(s["lift_pct"], float)
        low, high = s["ci95"]
        assert low <= s["lift_pct"] <= high
        assert len(s["per_seed_lift_pct"]) == len(seeds)
    assert set(report["ablations"]) == {"no_position_bias_correction", "random_negatives"}
    assert [s["seed"] for s in report["seeds"]] == seeds
    assert report["config"]["seeds"] == seeds


def test_tiny_lift_runs_through_the_pipeline(service_settings: Settings, tmp_path: Path) -> None:
    dataset = synthetic_dataset(products=6)
    config = LiftConfig(
        seeds=(1, 2),
        plan=TrafficPlan(searches=800),
        clicks=ClickModel(long_view_ms=service_settings.events.long_view_ms),
        resamples=500,
    )
    report = run_lift(
        dataset,
        service_settings,
        tmp_path,
        config,
        embedder=WordHashEmbedder(),
        cache_dir=None,
        progress=False,
    )
    _check_shape(report, [1, 2])
    traffic = report["traffic"]
    # Every event reached Kafka through both paths and the sink caught up with all of them.
    assert traffic["http"]["failures"] == traffic["sdk"]["failures"] == 0
    acknowledged = sum(traffic[p][k] for p in ("http", "sdk") for k in ("interactions", "searches"))
    assert acknowledged == traffic["events"]
    assert traffic["http"]["searches"] > 0 and traffic["sdk"]["searches"] > 0
    assert traffic["lag_after_catch_up"] == {"sink": 0}
    for seed in report["seeds"]:
        assert seed["searches"]["training"] + seed["searches"]["evaluation"] == 800
        assert seed["training"]["full"]["pairs"] > 0
        assert seed["training"]["full"]["with_negative"] > 0
        assert seed["bias"]["estimated"][0] == 1.0
        # Held-out queries never had traffic; the session split came from the same queries.
        assert seed["splits"]["held_out_queries"]["queries"] == seed["queries"]["held_out"]
        assert 0 < seed["splits"]["held_out_sessions"]["queries"] <= seed["queries"]["traffic"]
    # Clicks on what users liked make the tuned retriever better on the traffic queries.
    assert report["splits"]["held_out_sessions"]["lift_pct"] > 0
    # The run's data stays in its own chDB folder.
    assert Path(report["config"]["chdb"].removeprefix("chdb://")).is_dir()


@pytest.mark.slow
def test_cranfield_lift_is_real(service_settings: Settings, tmp_path: Path) -> None:
    if not (CRANFIELD / "cran.all.1400").is_file():
        pytest.skip(f"Cranfield not found at {CRANFIELD} (shared data of the dev machines)")
    done = subprocess.run(
        [
            *CLI,
            "lift",
            "--cranfield",
            str(CRANFIELD),
            "--out",
            str(tmp_path),
            "--no-stack",
            "--json",
        ],
        env=settings_env(service_settings),
        capture_output=True,
        timeout=CRANFIELD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = orjson.loads(done.stdout)
    _check_shape(report, [1, 2, 3])
    sessions = report["splits"]["held_out_sessions"]
    assert sessions["ci95"][0] > 0, sessions
    assert report["config"]["dataset"] == "cranfield-beir"
    assert report["config"]["judged_queries"] == 225
