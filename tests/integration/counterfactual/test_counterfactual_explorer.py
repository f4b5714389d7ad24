"""Search events randomised by the SDK's Explorer, stored in chDB as the sink stores them, read
back by `OfflineEvaluation.logs` and used by the estimators.

A deterministic ranker (each document at one position per query) serves four results; clicks
follow a position-based model with a curve (1/(pos+1)^1.5) that EM alone could not pin down.
The Explorer's records must come back search by search, the swap interventions must recover
the curve, and the estimate of a re-ranking built on them must land near its truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from interaction_pipeline.analytics import DateRange
from interaction_pipeline.counterfactual import EvaluationOptions, LoggedSearches, OfflineEvaluation
from producers import Explorer
from schemas.events import InteractionEvent, SearchEvent
from schemas.exploration import exploration_of
from sinks import open_backend
from tests.analytics_support import chdb_settings, insert_events, migrated_backend

pytestmark = pytest.mark.integration

START = datetime(2025, 4, 1, tzinfo=UTC)
SEARCHES, QUERIES, K = 30_000, 40, 4
THETA = 1.0 / (np.arange(K) + 1.0) ** 1.5
EXPLORER = Explorer(epsilon=0.3, depth=K)


@dataclass(frozen=True)
class Served:
    folder: Path
    relevance: dict[tuple[str, str], float]
    swaps: dict[str, int | None]


@dataclass(frozen=True, slots=True)
class Reversed:
    name: str = "reversed"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        ranked: np.ndarray = logs.shown[:, ::-1].copy()
        return ranked


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    rng = np.random.default_rng(21)
    ranked = {f"query {q}": [f"d{q}_{j}" for j in range(K)] for q in range(QUERIES)}
    relevance = {(q, d): float(rng.uniform(0.2, 0.8)) for q, docs in ranked.items() for d in docs}
    events: list[SearchEvent | InteractionEvent] = []
    swaps: dict[str, int | None] = {}
    for i in range(SEARCHES):
        query = f"query {i % QUERIES}"
        at = START + timedelta(seconds=5 * i)
        sent = SearchEvent.model_validate(
            EXPLORER.search_event(
                {"query_id": f"s{i}", "query": query, "results": ranked[query],
                 "total_hits": K, "timestamp": at}
            )
        )  # fmt: skip
        record = exploration_of(sent.metadata)
        assert record is not None
        swaps[sent.query_id] = record.swap
        events.append(sent)
        for pos, doc in enumerate(sent.results):
            if rng.random() < THETA[pos] * relevance[(query, doc)]:
                events.append(
                    InteractionEvent(
                        feature_id=doc, interaction_type=["click"], position=pos,
                        query_id=sent.query_id, timestamp=at + timedelta(seconds=2),
                        metadata={"query": query},
                    )
                )  # fmt: skip
    folder = tmp_path_factory.mktemp("explorer") / "chdb"
    backend = migrated_backend(chdb_settings(folder))
    try:
        insert_events(backend, events)
    finally:
        backend.close()
    return Served(folder, relevance, swaps)


def test_records_are_read_back_and_the_estimators_use_them(served: Served) -> None:
    settings = chdb_settings(served.folder)
    backend = open_backend(settings)
    try:
        evaluation = OfflineEvaluation(backend, settings)
        logs = evaluation.logs(DateRange(START, START + timedelta(days=3)), k=K)
        report = evaluation.run(
            logs, [Reversed()], options=EvaluationOptions(), bias_source="swaps"
        )
    finally:
        backend.close()

    assert logs.n == SEARCHES and logs.swap is not None and logs.epsilon is not None
    logged = dict(zip(logs.query_ids.to_pylist(), logs.swap.tolist(), strict=True))
    assert logged == {q: -1 if s is None else s for q, s in served.swaps.items()}
    assert np.all(logs.epsilon == EXPLORER.epsilon)

    assert report.propensity_source == "swaps"
    assert np.allclose(report.propensity, THETA, rtol=0.15)
    assert report.exploration is not None
    assert report.exploration["explored_searches"] == SEARCHES
    assert sum(report.exploration["swapped_per_pair"]) == sum(
        s is not None for s in served.swaps.values()
    )

    # Truth of the reversed lists: the click model applied to each search's reversed order.
    queries = logs.queries.to_pylist()
    docs = logs.docs.to_pylist()
    truth = np.mean(
        [
            sum(THETA[t] * served.relevance[(queries[q], docs[d])]
                for t, d in enumerate(row[::-1]))
            for q, row in zip(logs.query.tolist(), logs.shown.tolist(), strict=True)
        ]
    )  # fmt: skip
    result = next(c for c in report.candidates if c.name == "reversed")
    for estimator in ("snips", "dr"):
        value = result.estimates["clicks"][estimator].value
        assert value == pytest.approx(truth, rel=0.05), estimator
