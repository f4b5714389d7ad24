"""Every validation rule of the event contract, with the message users will read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import InteractionEvent, SearchEvent, describe, effective_types
from schemas.limits import (
    MAX_ID_LENGTH,
    MAX_METADATA_BYTES,
    MAX_POSITION,
    MAX_RESULTS_PER_SEARCH,
    MAX_TYPES_PER_EVENT,
)

pytestmark = pytest.mark.unit

SEED_EVENT: dict[str, Any] = {
    "feature_id": "doc_xyz789",
    "interaction_type": ["click", "long_view"],
    "position": 3,
    "metadata": {"duration_ms": 4500, "query": "wireless earbuds"},
    "user_id": "user_123",
    "session_id": "sess_456",
}


def errors_of(model: type[InteractionEvent] | type[SearchEvent], **changes: Any) -> list[str]:
    base = SEED_EVENT if model is InteractionEvent else {"query": "q", "total_hits": 0}
    data = {**base, **changes}
    data = {k: v for k, v in data.items() if v is not _DROP}
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe(caught.value)


_DROP = object()


def test_seed_example_is_accepted_unchanged() -> None:
    event = InteractionEvent.model_validate(SEED_EVENT)
    assert event.feature_id == "doc_xyz789"
    assert event.interaction_type == ["click", "long_view"]
    assert event.position == 3
    assert event.query == "wireless earbuds"
    assert event.duration_ms == 4500
    assert event.timestamp.tzinfo is UTC
    assert event.event_id.version == 4


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"feature_id": ""}, "feature_id: must not be empty"),
        ({"feature_id": "x" * (MAX_ID_LENGTH + 1)}, f"feature_id: must be at most {MAX_ID_LENGTH}"),
        ({"feature_id": "a\nb"}, "feature_id: must not contain control characters"),
        ({"feature_id": _DROP}, "feature_id: is required"),
        ({"user_id": ""}, "user_id: must not be empty"),
        ({"session_id": "s" * 300}, "session_id: must be at most"),
        ({"retriever_id": ""}, "retriever_id: must not be empty"),
        ({"query_id": ""}, "query_id: must not be empty"),
        ({"position": -1}, "position: must be >= 0, got -1"),
        ({"position": MAX_POSITION + 1}, f"position: must be <= {MAX_POSITION}"),
        ({"interaction_type": []}, "interaction_type: must have at least 1 item"),
        ({"interaction_type": ["Click"]}, "interaction_type[0]: must be a lower-case identifier"),
        ({"interaction_type": ["click", "9lives"]}, "interaction_type[1]: must be a lower-case"),
        (
            {"interaction_type": [f"t{i}" for i in range(MAX_TYPES_PER_EVENT + 1)]},
            f"interaction_type: must have at most {MAX_TYPES_PER_EVENT}",
        ),
        (
            {"metadata": {"blob": "x" * MAX_METADATA_BYTES}},
            f"metadata: must be at most {MAX_METADATA_BYTES} bytes",
        ),
        ({"metadata": {"duration_ms": -5}}, "metadata: duration_ms must be a number"),
        ({"metadata": {"duration_ms": "long"}}, "metadata: duration_ms must be a number"),
        ({"metadata": {"query": 42}}, "metadata: query must be a string"),
        ({"timestamp": "2999-01-01T00:00:00Z"}, "timestamp: must not be more than 300 s"),
        ({"timestamp": "yesterday"}, "timestamp: "),
        ({"timestamp": 1_700_000_000}, "timestamp: must be an RFC 3339 date-time string"),
        ({"event_id": "not-a-uuid"}, "event_id: "),
        ({"schema_version": 2}, "schema_version: "),
        ({"postion": 3}, "postion: is not a known field"),
    ],
)
def test_interaction_rule_names_the_field(changes: dict[str, Any], expected: str) -> None:
    messages = errors_of(InteractionEvent, **changes)
    assert any(m.startswith(expected) for m in messages), messages


def test_a_bare_type_string_is_a_one_element_list() -> None:
    event = InteractionEvent.model_validate({**SEED_EVENT, "interaction_type": "purchase"})
    assert event.interaction_type == ["purchase"]


def test_repeated_types_count_once_and_keep_order() -> None:
    event = InteractionEvent.model_validate(
        {**SEED_EVENT, "interaction_type": ["click", "purchase", "click"]}
    )
    assert event.interaction_type == ["click", "purchase"]


def test_custom_types_are_lower_case_identifiers() -> None:
    event = InteractionEvent.model_validate({**SEED_EVENT, "interaction_type": ["share_v2"]})
    assert event.interaction_type == ["share_v2"]


def test_position_is_optional() -> None:
    data = {k: v for k, v in SEED_EVENT.items() if k != "position"}
    assert InteractionEvent.model_validate(data).position is None


def test_naive_timestamp_is_utc_and_offsets_are_converted() -> None:
    naive = InteractionEvent.model_validate({**SEED_EVENT, "timestamp": "2026-01-02T03:04:05"})
    assert naive.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    shifted = InteractionEvent.model_validate(
        {**SEED_EVENT, "timestamp": "2026-01-02T05:04:05+02:00"}
    )
    assert shifted.timestamp == naive.timestamp


def test_future_skew_is_taken_from_the_context() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ahead = {**SEED_EVENT, "timestamp": (now + timedelta(seconds=60)).isoformat()}
    assert InteractionEvent.model_validate(ahead, context={"now": now})
    with pytest.raises(ValidationError, match="must not be more than 10 s"):
        InteractionEvent.model_validate(ahead, context={"now": now, "max_future_skew_s": 10})


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(3999, ["click"]), (4000, ["click", "long_view"]), (None, ["click"])],
)
def test_long_view_is_derived_at_the_threshold(duration: int | None, expected: list[str]) -> None:
    metadata = {} if duration is None else {"duration_ms": duration}
    event = InteractionEvent.model_validate(
        {**SEED_EVENT, "interaction_type": ["click"], "metadata": metadata}
    )
    assert effective_types(event, long_view_ms=4000) == expected


def test_long_view_is_not_added_twice() -> None:
    event = InteractionEvent.model_validate(SEED_EVENT)
    assert effective_types(event, long_view_ms=1) == ["click", "long_view"]


def test_search_event_defaults_and_zero_results() -> None:
    search = SearchEvent.model_validate({"query": "no such thing", "total_hits": 0})
    assert search.is_zero_result
    assert search.results == []
    assert len(search.query_id) == 32


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"results": ["a", "b"], "total_hits": 1}, "total_hits: must be >= number of results (2)"),
        ({"total_hits": -1}, "total_hits: must be >= 0"),
        ({"total_hits": _DROP}, "total_hits: is required"),
        ({"query": "q" * 2000}, "query: must be at most 1024"),
        ({"results": ["ok", ""], "total_hits": 5}, "results[1]: must not be empty"),
        (
            {"results": ["d"] * (MAX_RESULTS_PER_SEARCH + 1), "total_hits": 5000},
            f"results: must have at most {MAX_RESULTS_PER_SEARCH}",
        ),
    ],
)
def test_search_rule_names_the_field(changes: dict[str, Any], expected: str) -> None:
    messages = errors_of(SearchEvent, **changes)
    assert any(m.startswith(expected) for m in messages), messages
