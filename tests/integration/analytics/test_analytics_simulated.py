"""Analytics over simulated traffic in chDB, checked against what the simulator knows.

The SQL path (events -> ClickHouse rows -> click_counts.sql -> EM) must give exactly what the
in-memory aggregation of the same simulation gives, and training pairs must agree with the
ground-truth relevance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from interaction_pipeline.analytics import (
    Analytics,
    ClickCounts,
    DateRange,
    ExportOptions,
    estimate_position_bias,
)
from producers.simulator import SimulationConfig, Simulator
from tests.analytics_support import chdb_settings, insert_events, migrated_backend

pytestmark = pytest.mark.integration

END = datetime(2025, 3, 1, tzinfo=UTC)
CONFIG = SimulationConfig(searches=15_000, seed=21, end=END, days=14, rank_noise=0.4)
RANGE = DateRange(END - timedelta(days=15), END)


@pytest.fixture(scope="module")
def simulator() -> Simulator:
    return Simulator(CONFIG)


@pytest.fixture(scope="module")
def analytics(
    simulator: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Analytics]:
    settings = chdb_settings(tmp_path_factory.mktemp("simulated") / "chdb")
    backend = migrated_backend(settings)
    try:
        insert_events(backend, simulator.events())
        yield Analytics(backend, settings)
    finally:
        backend.close()


def _rows(position: np.ndarray, impressions: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    rows = np.stack([position, impressions, clicks], axis=1).astype(np.int64)
    return rows[np.lexsort(rows.T[::-1])]


def test_sql_click_counts_equal_the_in_memory_aggregation(
    analytics: Analytics, simulator: Simulator
) -> None:
    expected = simulator.click_table()
    got = analytics.click_counts(RANGE)
    assert got.pairs == np.unique(expected.query * CONFIG.docs + expected.doc).size
    assert np.array_equal(
        _rows(got.position, got.impressions, got.clicks),
        _rows(expected.position, expected.impressions, expected.clicks),
    )


def test_sql_bias_estimate_is_the_in_memory_estimate(
    analytics: Analytics, simulator: Simulator
) -> None:
    table = simulator.click_table()
    in_memory = estimate_position_bias(
        ClickCounts.from_columns(
            table.query * CONFIG.docs + table.doc, table.position, table.impressions, table.clicks
        )
    )
    from_sql = analytics.position_bias(RANGE)
    assert [p.propensity for p in from_sql.positions] == pytest.approx(
        [p.propensity for p in in_memory.positions], rel=1e-6
    )
    # Rough at 15,000 searches; tests/unit/test_analytics_bias.py checks 10 % on more data.
    truth = simulator.truth.relative_propensity
    assert from_sql.propensity(np.arange(10)) == pytest.approx(truth[:10], rel=0.25)


def test_report_ctr_by_position_matches_the_simulation(
    analytics: Analytics, simulator: Simulator
) -> None:
    table = simulator.click_table()
    shown = CONFIG.shown_per_search
    impressions = np.bincount(table.position, weights=table.impressions, minlength=shown)
    clicks = np.bincount(table.position, weights=table.clicks, minlength=shown)
    report = analytics.report(RANGE)
    assert [r["impressions"] for r in report.ctr_by_position] == impressions.tolist()
    assert [r["clicks"] for r in report.ctr_by_position] == clicks.tolist()
    zero = sum(int(b.zero_result.sum()) for b in simulator.batches())
    assert report.headline["zero_result_searches"] == zero
    assert report.headline["searches"] == CONFIG.searches


def test_training_pairs_agree_with_true_relevance(
    analytics: Analytics, simulator: Simulator
) -> None:
    truth = simulator.truth
    relevance = {
        (truth.queries[q], truth.doc_ids[d]): r
        for q in range(truth.candidates.shape[0])
        for d, r in zip(truth.candidates[q], truth.relevance[q], strict=True)
    }
    positives: list[float] = []
    negatives: dict[str, list[float]] = {"explicit": [], "skip_above": [], "impression": []}
    for pair in analytics.get_query_document_pairs(RANGE, min_interactions=2):
        positives.append(relevance[(pair.query, pair.positive_id)])
        if pair.negative_id is not None and pair.negative_source is not None:
            negatives[pair.negative_source].append(relevance[(pair.query, pair.negative_id)])
    assert len(positives) > 500
    assert min(len(v) for v in negatives.values()) > 20
    mean_positive = float(np.mean(positives))
    means = {source: float(np.mean(values)) for source, values in negatives.items()}
    print(f"true relevance: positives {mean_positive:.3f}, negatives by source {means}")
    for source in negatives:
        assert mean_positive > means[source] + 0.2, source


def test_ipw_switch_changes_weights_and_selection(analytics: Analytics) -> None:
    options = ExportOptions(RANGE, min_interactions=3)
    with_ipw = {(p.query, p.positive_id): p.weight for p in analytics.exporter(options).pairs()}
    plain = ExportOptions(RANGE, min_interactions=3, ipw=False)
    without = {(p.query, p.positive_id): p.weight for p in analytics.exporter(plain).pairs()}
    # Off, positives are chosen on raw click rates: many of the same pairs, not all (raw
    # rates favour what the ranker puts on top).
    both = with_ipw.keys() & without.keys()
    assert with_ipw.keys() != without.keys()
    assert len(both) > 0.6 * max(len(with_ipw), len(without))
    assert all(with_ipw[k] >= without[k] - 1e-9 for k in both)  # every ipw factor >= 1
    assert sum(with_ipw[k] for k in both) > 1.5 * sum(without[k] for k in both)
