"""export_pairs: texts resolved, leaks caught, random negatives from the export when it can,
from the lift's fallback otherwise (stub analytics, no ClickHouse)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from interaction_pipeline.analytics import BiasEstimate, DateRange, TrainingPair
from interaction_pipeline.lift import _pairs
from interaction_pipeline.lift._pairs import EXPORT_RANDOM, FALLBACK_RANDOM, export_pairs

pytestmark = pytest.mark.unit

RANGE = DateRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))
TEXTS = {"d1": "doc one", "d2": "doc two", "d3": "doc three", "d4": "doc four"}


def _row(query: str, positive: str, negative: str | None, weight: float = 2.0) -> TrainingPair:
    return TrainingPair(
        query=query,
        positive_id=positive,
        negative_id=negative,
        negative_source="explicit" if negative else None,
        weight=weight,
        strength=1.0,
        ipw=weight,
        propensity=0.5,
        mean_position=1.0,
        positive_events=2,
        conversions=0,
        long_views=1,
        negative_events=0,
        clipped_events=0,
    )


class StubAnalytics:
    """Records what the lift asked for; answers with fixed rows."""

    def __init__(self, rows: list[TrainingPair]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def get_query_document_pairs(
        self, date_range: DateRange, min_interactions: int, **kwargs: Any
    ) -> list[TrainingPair]:
        self.calls.append({"range": date_range, "min": min_interactions, **kwargs})
        return self.rows

    def exporter(self, options: Any, bias: Any) -> Any:
        self.calls.append({"options": options})
        rows = [_row(r.query, r.positive_id, "d4") for r in self.rows]
        return type("Exporter", (), {"pairs": lambda _self: iter(rows)})()


def _export(analytics: StubAnalytics, variant: str, allowed: list[str]) -> _pairs.PairSet:
    return export_pairs(
        analytics,  # type: ignore[arg-type]
        variant,  # type: ignore[arg-type]
        date_range=RANGE,
        retriever_id="lift-s1",
        min_interactions=2,
        bias=BiasEstimate.prior_only(10),
        texts=TEXTS,
        allowed_queries=allowed,
        seed=1,
    )


def test_full_pairs_carry_texts_ids_and_weights() -> None:
    stub = StubAnalytics([_row("wind tunnel", "d1", "d2"), _row("wind tunnel", "d9", None)])
    result = _export(stub, "full", ["  Wind Tunnel "])
    assert stub.calls[0]["ipw"] is True and stub.calls[0]["retriever_id"] == "lift-s1"
    (pair,) = result.pairs  # d9 has no text: left out and counted
    assert (pair.query, pair.positive_text, pair.negative_text, pair.weight) == (
        "wind tunnel",
        "doc one",
        "doc two",
        2.0,
    )
    assert result.stats["unresolved_texts"] == 1


def test_no_ipw_turns_the_correction_off() -> None:
    stub = StubAnalytics([_row("q", "d1", "d2")])
    _export(stub, "no_ipw", ["q"])
    assert stub.calls[0]["ipw"] is False


def test_a_query_without_training_traffic_is_an_error() -> None:
    stub = StubAnalytics([_row("held out query", "d1", "d2")])
    with pytest.raises(RuntimeError, match="never got training traffic"):
        _export(stub, "full", ["another query"])


def test_random_negatives_fall_back_when_the_export_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pairs, "export_has_random_negatives", lambda: False)
    stub = StubAnalytics([_row("q", "d1", "d2"), _row("q", "d2", "d3")])
    result = _export(stub, "random_negatives", ["q"])
    assert result.stats["random_negatives"] == FALLBACK_RANDOM
    assert {p.negative_id for p in result.pairs} <= {"d3", "d4"}


def test_random_negatives_use_the_export_option_when_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict[str, Any]] = []

    def options(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(kwargs)
        return kwargs

    monkeypatch.setattr(_pairs, "export_has_random_negatives", lambda: True)
    monkeypatch.setattr(_pairs, "ExportOptions", options)
    stub = StubAnalytics([_row("q", "d1", "d2")])
    result = _export(stub, "random_negatives", ["q"])
    assert made[0]["negatives"] == "random" and made[0]["ipw"] is True
    assert result.stats["random_negatives"] == EXPORT_RANDOM
    assert [p.negative_id for p in result.pairs] == ["d4"]
