"""The query API on chDB: filters, offset pages, a cursor that stays stable, parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.events import InteractionEvent
from schemas.privacy import UserIdHasher, hash_user_id
from schemas.settings import Settings
from sinks import (
    ClickHouseBackend,
    InteractionFilter,
    InteractionQueries,
    InvalidCursorError,
    migrate,
    open_backend,
)
from sinks.ddl import INTERACTION_COLUMNS, INTERACTIONS_TABLE, interaction_row

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def event(i: int, **fields: object) -> InteractionEvent:
    base: dict[str, object] = {
        "feature_id": f"doc_{i % 3}",
        "interaction_type": ["click"],
        "user_id": "u1",
        "timestamp": T0 + timedelta(seconds=i // 2),  # pairs share a timestamp
    }
    return InteractionEvent.model_validate(base | fields)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    opened = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    migrate(opened)
    yield opened
    opened.close()


def insert(backend: ClickHouseBackend, events: list[InteractionEvent]) -> None:
    backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, [interaction_row(e) for e in events])


def test_cursor_pages_are_stable_while_new_and_late_events_arrive(
    backend: ClickHouseBackend,
) -> None:
    existing = [event(i) for i in range(45)]
    insert(backend, existing)
    queries = InteractionQueries(backend)
    seen: list[str] = []
    page = queries.list(page_size=10)
    arrivals = 0
    while True:
        seen += [item["event_id"] for item in page.items]
        # Newer events, and late ones with old timestamps, arrive between page reads.
        insert(backend, [event(1000 + arrivals), event(arrivals, timestamp=T0 - timedelta(1))])
        arrivals += 1
        if page.next_cursor is None:
            break
        page = queries.list(page_size=10, cursor=page.next_cursor)
    pre_existing = {str(e.event_id) for e in existing}
    assert len(seen) == len(set(seen))  # nothing twice
    assert pre_existing <= set(seen)  # nothing that was there is skipped
    times = {str(e.event_id): e.timestamp for e in existing}
    in_order = [times[s] for s in seen if s in pre_existing]
    assert in_order == sorted(in_order, reverse=True)  # newest first across pages


def test_filters_combine(backend: ClickHouseBackend) -> None:
    now = datetime.now(UTC)
    events = [
        event(0, interaction_type=["purchase"], timestamp=now - timedelta(days=10)),
        event(1, interaction_type=["purchase"], timestamp=now - timedelta(days=100)),
        event(2, interaction_type=["click", "purchase"], user_id="u2"),
        event(3, interaction_type=["skip"], session_id="s9", metadata={"query": "red shoes"}),
    ]
    insert(backend, events)
    queries = InteractionQueries(backend)

    def ids(flt: InteractionFilter) -> set[str]:
        return {i["event_id"] for i in queries.list(flt, limit=100).items}

    seed = InteractionFilter(user_id="u1", interaction_type=["purchase"], days=90)
    assert ids(seed) == {str(events[0].event_id)}
    assert ids(InteractionFilter(interaction_type=["purchase", "skip"])) == {
        str(e.event_id) for e in events
    }
    assert ids(InteractionFilter(session_id="s9", query="red shoes")) == {str(events[3].event_id)}
    assert ids(InteractionFilter(until=T0 + timedelta(days=1))) == {
        str(events[2].event_id),
        str(events[3].event_id),
    }
    assert ids(InteractionFilter(since=now - timedelta(days=11))) == {str(events[0].event_id)}
    assert queries.feature_ids(seed) == [events[0].feature_id]
    assert queries.count(InteractionFilter(user_id="u2")) == 1


def test_offset_pages_and_bounds(backend: ClickHouseBackend) -> None:
    events = [event(i) for i in range(25)]
    insert(backend, events)
    queries = InteractionQueries(backend)
    pages = [queries.list(page=p, page_size=10).items for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert len({i["event_id"] for p in pages for i in p}) == 25
    with pytest.raises(ValueError, match="page_size"):
        queries.list(page_size=1001)
    with pytest.raises(ValueError, match="page"):
        queries.list(page=0)
    with pytest.raises(InvalidCursorError):
        queries.list(cursor="bm90IGEgY3Vyc29y")


def test_user_filter_hashes_when_a_key_is_configured(backend: ClickHouseBackend) -> None:
    insert(backend, [event(0, user_id=hash_user_id("alice", "k")), event(1, user_id="alice")])
    hashed = InteractionQueries(backend, hasher=UserIdHasher(SecretStr("k")))
    items = hashed.list(InteractionFilter(user_id="alice")).items
    assert [i["user_id"] for i in items] == [hash_user_id("alice", "k")]


def test_parameters_carry_any_text_unchanged(backend: ClickHouseBackend) -> None:
    for text in ["it's", 'a"b', "back\\slash", "new\nline", "tab\t", "ß🚀", "{x:String}", ""]:
        row = backend.query(
            "SELECT {s:String} AS s, {a:Array(String)} AS a", {"s": text, "a": [text, "z"]}
        )[0]
        assert row == {"s": text, "a": [text, "z"]}
