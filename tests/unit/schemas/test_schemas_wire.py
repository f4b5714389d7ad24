"""The wire format: lossless round trips, versioning, and decode errors as data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import DecodeError, InteractionEvent, SearchEvent, decode_interaction, encode
from schemas.wire import decode_search

pytestmark = pytest.mark.unit

ids = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
type_names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20)
)
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))

interactions = st.builds(
    InteractionEvent,
    feature_id=ids,
    interaction_type=st.lists(type_names, min_size=1, max_size=4, unique=True),
    position=st.one_of(st.none(), st.integers(0, 9999)),
    metadata=st.dictionaries(st.text(max_size=10), json_scalars, max_size=4),
    user_id=st.one_of(st.none(), ids),
    session_id=st.one_of(st.none(), ids),
    retriever_id=st.one_of(st.none(), ids),
    query_id=st.one_of(st.none(), ids),
    timestamp=timestamps,
)

searches = st.builds(
    SearchEvent,
    query=st.text(max_size=50),
    results=st.lists(ids, max_size=20),
    total_hits=st.integers(20, 10**9),
    user_id=st.one_of(st.none(), ids),
    timestamp=timestamps,
)


@given(interactions)
@settings(max_examples=300)
def test_interaction_round_trip_is_lossless(event: InteractionEvent) -> None:
    assert decode_interaction(encode(event)) == event


@given(searches)
@settings(max_examples=200)
def test_search_round_trip_is_lossless(event: SearchEvent) -> None:
    assert decode_search(encode(event)) == event


def test_encoded_form_is_versioned_utc_json() -> None:
    event = InteractionEvent(
        feature_id="d", interaction_type=["click"], timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    data = orjson.loads(encode(event))
    assert data["schema_version"] == 1
    assert data["timestamp"] == "2026-01-01T00:00:00Z"
    assert data["event_id"] == str(event.event_id)


def test_seed_json_without_version_or_ids_is_read_as_v1() -> None:
    event = decode_interaction(b'{"feature_id": "doc_1", "interaction_type": ["click"]}')
    assert event.schema_version == 1
    assert event.timestamp <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"schema_version": 7, "feature_id": "d", "interaction_type": ["click"]}', "unsupported"),
        (b'{"feature_id": "d", "interaction_type": [], "position": -2}', "position: must be >= 0"),
    ],
)
def test_bad_payloads_raise_decode_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_interaction(payload)
    assert reason in caught.value.reason
