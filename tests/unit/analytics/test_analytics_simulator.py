"""The traffic simulator: seeded, consistent with its own ground truth, valid seed-format events."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from interaction_pipeline.cli.main import app
from producers.simulator import SimulationConfig, Simulator
from schemas.events import InteractionEvent, SearchEvent
from schemas.wire import decode_interaction, decode_search, encode

pytestmark = pytest.mark.unit

END = datetime(2025, 2, 1, tzinfo=UTC)


def _events(**kwargs: object) -> list[SearchEvent | InteractionEvent]:
    config = SimulationConfig(end=END, **kwargs)  # type: ignore[arg-type]
    return list(Simulator(config).events())


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = [encode(e) for e in _events(searches=300, seed=11)]
    again = [encode(e) for e in _events(searches=300, seed=11)]
    other = [encode(e) for e in _events(searches=300, seed=12)]
    assert first == again
    assert first != other


def test_clicks_follow_the_position_based_model() -> None:
    """Observed clicks per position match examination x relevance of what was shown there."""
    sim = Simulator(SimulationConfig(searches=40_000, propensity_eta=1.5, end=END, seed=3))
    shown = sim.config.shown_per_search
    clicks, expected = np.zeros(shown), np.zeros(shown)
    for batch in sim.batches():
        clicks += batch.clicked.sum(axis=0)
        expected += batch.relevance.sum(axis=0) * sim.truth.examination
    assert (np.abs(clicks - expected) < 4 * np.sqrt(expected)).all()  # within 4 sigma
    assert sim.truth.relative_propensity[:3] == pytest.approx([1.0, 2**-1.5, 3**-1.5])


def test_sessions_are_realistic_and_consistent() -> None:
    config = SimulationConfig(searches=4_000, end=END, days=7, seed=5, retrievers=("a", "b"))
    events = list(Simulator(config).events())
    searches = {e.query_id: e for e in events if isinstance(e, SearchEvent)}
    reactions = [e for e in events if isinstance(e, InteractionEvent)]
    assert len(searches) == 4_000
    zero = [s for s in searches.values() if s.is_zero_result]
    assert 0.015 < len(zero) / len(searches) < 0.05  # zero_result_share 0.03
    assert all(s.results == [] for s in zero)
    assert {s.retriever_id for s in searches.values()} == {"a", "b"}
    by_search: dict[str, list[InteractionEvent]] = defaultdict(list)
    for event in reactions:
        assert event.query_id in searches
        search = searches[event.query_id]
        assert event.timestamp > search.timestamp
        assert END - timedelta(days=7, hours=2) <= search.timestamp <= END
        assert search.results[event.position or 0] == event.feature_id
        assert event.query == search.query
        by_search[event.query_id].append(event)
    types = Counter(t for e in reactions for t in e.interaction_type)
    assert {"click", "long_view", "purchase", "skip", "return_to_results"} <= types.keys()
    for query_id, group in by_search.items():
        clicked = {e.position or 0: e for e in group if "click" in e.interaction_type}
        for event in group:
            kinds = event.interaction_type
            if "click" in kinds:
                long = (event.duration_ms or 0) >= config.long_view_ms
                assert ("long_view" in kinds) == long
            if "purchase" in kinds:  # only after a satisfying (long) click on the same result
                assert "long_view" in clicked[event.position or 0].interaction_type
            if "return_to_results" in kinds:
                assert "long_view" not in clicked[event.position or 0].interaction_type
            if "skip" in kinds:  # reported only above a clicked result
                assert event.position not in clicked
                assert max(clicked) > (event.position or 0), query_id


def test_interactions_only_deployment_sends_no_search_events() -> None:
    events = _events(searches=500, include_search_events=False)
    assert events
    assert all(isinstance(e, InteractionEvent) and e.query_id is None for e in events)
    assert all(e.query for e in events if isinstance(e, InteractionEvent))


def test_click_table_agrees_with_the_events() -> None:
    config = SimulationConfig(searches=2_000, end=END, seed=9)
    sim = Simulator(config)
    events = list(sim.events())
    table = sim.click_table()
    answered = sum(isinstance(e, SearchEvent) and not e.is_zero_result for e in events)
    click_events = sum(isinstance(e, InteractionEvent) and "click" in e.interaction_type
                       for e in events)  # fmt: skip
    assert table.impressions.sum() == answered * config.shown_per_search
    assert table.clicks.sum() == click_events
    assert (table.clicks <= table.impressions).all()


def test_jsonl_is_seed_format_and_truth_is_saved(tmp_path: Path) -> None:
    sim = Simulator(SimulationConfig(searches=200, end=END, seed=2))
    stream = io.BytesIO()
    summary = sim.write_jsonl(stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == summary.search_events + summary.interaction_events
    for line in lines:
        obj = orjson.loads(line)
        event = decode_search(line) if "results" in obj else decode_interaction(line)
        assert encode(event) == line
    truth_file = tmp_path / "truth.json"
    sim.write_truth(truth_file)
    truth = orjson.loads(truth_file.read_bytes())
    assert truth["relative_propensity"][:2] == [1.0, 0.5]
    first = truth["relevance"][0]
    assert sim.truth.relevance_of(first["query"], first["feature_id"]) == first["relevance"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("page_size", 0), ("ranker_quality", 1.5), ("zero_result_share", 1.0), ("docs", 3)],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SimulationConfig(**{field: value})  # type: ignore[arg-type]


def test_explicit_propensities_must_cover_every_position() -> None:
    with pytest.raises(ValueError, match="propensities"):
        SimulationConfig(page_size=5, propensities=(1.0, 0.5))
    config = SimulationConfig(page_size=3, propensities=(1.0, 0.6, 0.2))
    assert config.examination().tolist() == [1.0, 0.6, 0.2]


def test_simulate_command_writes_jsonl_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    result = CliRunner().invoke(
        app,
        ["simulate", "--searches", "150", "--output", str(out), "--truth", str(truth),
         "--end", "2025-02-01T00:00:00", "--eta", "2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["published"] is False
    assert summary["searches"] == 150
    assert summary["propensity"][:2] == [1.0, 0.25]
    assert (
        len(out.read_bytes().splitlines())
        == summary["search_events"] + summary["interaction_events"]
    )
    assert truth.is_file()


def test_simulate_command_refuses_a_future_end() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--output", "/dev/null", "--end", "2999-01-01T00:00:00"]
    )
    assert result.exit_code == 2
    assert "future" in result.output
