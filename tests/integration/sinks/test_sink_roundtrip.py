"""Events produced with the SDK come back from ClickHouse field for field; bad ones are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from schemas.wire import to_json_dict
from sinks import InteractionFilter, InteractionQueries
from sinks.ddl import (
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    SEARCH_EVENTS_TABLE,
    interaction_from_row,
    search_event_from_row,
)
from tests.integration.sink_support import (
    backend_for,
    interaction,
    produce,
    run_sink,
    sink_settings,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("workers", [1, 0], ids=["decode-workers", "decode-inline"])
def test_every_field_round_trips(unique_settings: Settings, workers: int) -> None:
    settings = sink_settings(unique_settings, sink_decode_workers=workers)
    now = datetime.now(UTC)
    events = [interaction(i, timestamp=now - timedelta(minutes=i)) for i in range(300)]
    # The edges of the contract: absent optionals, a bare string type, unicode, big metadata.
    events += [
        InteractionEvent(feature_id="doc_min", interaction_type="purchase"),
        InteractionEvent(
            feature_id="dök/ü 🚀",
            interaction_type=["custom_signal", "skip"],
            position=9_999,
            metadata={"nested": {"a": [1, 2.5, None, True]}, "query": "naïve «q»", "x": ""},
            user_id="u:ß",
            timestamp=now - timedelta(days=40, microseconds=7),
        ),
    ]
    searches = [
        SearchEvent(query="wireless earbuds", results=["a", "b", "c"], total_hits=120),
        SearchEvent(query="nothing here", results=[], total_hits=0, user_id="u1"),
    ]
    produce(settings, [*events, *searches])
    with backend_for(settings) as backend:
        total = len(events) + len(searches)
        stats = run_sink(settings, backend, lambda s: s.messages >= total)
        assert stats.messages == total
        assert stats.rows_written == {INTERACTIONS_TABLE: len(events), SEARCH_EVENTS_TABLE: 2}

        rows = backend.query(f"SELECT * FROM {INTERACTIONS_TABLE}")
        stored = {r["event_id"]: interaction_from_row(r) for r in rows}
        assert len(stored) == len(events)
        for event in events:
            assert stored[event.event_id] == to_json_dict(event)
            assert InteractionEvent.model_validate(stored[event.event_id]) == event

        rows = backend.query(f"SELECT * FROM {SEARCH_EVENTS_TABLE}")
        stored_searches = {r["event_id"]: search_event_from_row(r) for r in rows}
        for search in searches:
            assert stored_searches[search.event_id] == to_json_dict(search)

        # The query API answers the seed's questions over the same rows.
        queries = InteractionQueries(backend)
        by_feature = queries.list(InteractionFilter(feature_id="doc_5"), limit=1000).items
        assert {i["event_id"] for i in by_feature} == {
            str(e.event_id) for e in events if e.feature_id == "doc_5"
        }
        by_user = queries.list(InteractionFilter(user_id="user_3"), limit=50).items
        expected = sorted(
            (e for e in events if e.user_id == "user_3"), key=lambda e: e.timestamp, reverse=True
        )[:50]
        assert [i["event_id"] for i in by_user] == [str(e.event_id) for e in expected]
        recent = queries.list(InteractionFilter(interaction_type=["long_view"], days=1), limit=1000)
        assert {i["event_id"] for i in recent.items} == {
            str(e.event_id)
            for e in events
            if "long_view" in e.interaction_type and e.timestamp > now - timedelta(days=1)
        }


def test_bad_messages_are_kept_with_their_bytes_and_reason(unique_settings: Settings) -> None:
    settings = sink_settings(unique_settings)
    good = [interaction(i) for i in range(20)]
    produce(settings, good)
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    bad = {
        b"\xff\xfe not json": "not valid JSON",
        b'{"feature_id": "", "interaction_type": ["click"]}': "feature_id: must not be empty",
        b'{"feature_id": "d", "interaction_type": ["click"], "position": -1}': "position: must be",
        b'{"schema_version": 2, "feature_id": "d"}': "schema_version: unsupported",
    }
    for payload in bad:
        raw.produce(settings.topics.interactions, payload, key=b"k\x00")
    raw.produce(settings.topics.searches, b'{"query": "q", "results": ["a"], "total_hits": 0}')
    assert raw.flush(30) == 0
    with backend_for(settings) as backend:
        total = len(good) + len(bad) + 1
        stats = run_sink(settings, backend, lambda s: s.messages >= total)
        assert stats.rows_written[INTERACTIONS_TABLE] == len(good)
        assert stats.rows_written[REJECTS_TABLE] == len(bad) + 1
        rows = backend.query(
            f"SELECT hex(payload) AS p, hex(kafka_key) AS k, reason, kafka_topic "
            f"FROM {REJECTS_TABLE}"
        )
        by_payload = {bytes.fromhex(r["p"]): r for r in rows}
        for payload, reason in bad.items():
            assert reason in by_payload[payload]["reason"]
            assert by_payload[payload]["k"] == b"k\x00".hex().upper()
        search_reject = by_payload[b'{"query": "q", "results": ["a"], "total_hits": 0}']
        assert "total_hits" in search_reject["reason"]
        assert search_reject["kafka_topic"] == settings.topics.searches
