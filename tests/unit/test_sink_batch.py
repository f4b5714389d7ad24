"""Batch bookkeeping, insert tokens, the offset guard, and message decoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.clickhouse_ddl import (
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    interaction_row,
)
from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.topics import Topics
from schemas.wire import encode
from sinks import ClickHouseBackend, migrate, open_backend
from sinks._batch import Batch
from sinks._decode import decode, routes
from sinks._guard import OffsetGuard

pytestmark = pytest.mark.unit

TP = ("interactions", 0)
TP2 = ("interactions", 1)


def filled(offsets: range, tp: tuple[str, int] = TP) -> Batch:
    batch = Batch(0.0)
    for offset in offsets:
        event = InteractionEvent(feature_id=f"d{offset}", interaction_type=["click"])
        batch.add(tp, offset, INTERACTIONS_TABLE, interaction_row(event, tp[0], tp[1], offset))
    return batch


def test_commit_positions_follow_what_was_read_not_what_is_kept() -> None:
    batch = filled(range(10, 20))
    batch.add(TP2, 5, REJECTS_TABLE, ("t", 1, 5, b"", b"x", "bad", None))
    assert batch.commit_positions() == {TP: 20, TP2: 6}
    assert batch.discard(lambda tp, offset: offset % 2 == 0) == 6
    assert batch.commit_positions() == {TP: 20, TP2: 6}
    assert batch.row_count() == 5


def test_dedup_token_names_exactly_the_rows() -> None:
    a, b = filled(range(100)), filled(range(100))
    assert a.dedup_token("g", INTERACTIONS_TABLE) == b.dedup_token("g", INTERACTIONS_TABLE)
    assert a.dedup_token("g", INTERACTIONS_TABLE) != a.dedup_token("h", INTERACTIONS_TABLE)
    b.discard(lambda _tp, offset: offset != 50)
    assert a.dedup_token("g", INTERACTIONS_TABLE) != b.dedup_token("g", INTERACTIONS_TABLE)
    assert filled(range(1, 101)).dedup_token("g", INTERACTIONS_TABLE) != a.dedup_token(
        "g", INTERACTIONS_TABLE
    )


def test_revoked_partitions_leave_the_batch() -> None:
    batch = filled(range(5))
    for offset in range(3):
        event = InteractionEvent(feature_id="x", interaction_type=["click"])
        batch.add(TP2, offset, INTERACTIONS_TABLE, interaction_row(event, *TP2, offset))
    assert batch.forget_partitions({TP}) == 5
    assert batch.commit_positions() == {TP2: 3}
    assert batch.messages == 3


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    opened = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    migrate(opened)
    yield opened
    opened.close()


def test_guard_skips_what_an_earlier_larger_batch_stored(backend: ClickHouseBackend) -> None:
    # A crashed run stored offsets 0..99 of partition 0 without committing them.
    earlier = filled(range(100))
    for table, rows in earlier.tables():
        backend.insert(table, INTERACTION_COLUMNS, rows)
    guard = OffsetGuard(backend)
    guard.assigned({TP, TP2})
    # The new run re-reads them in smaller batches, then new messages follow.
    first, second, third = filled(range(40)), filled(range(40, 120)), filled(range(120, 130))
    assert guard.filter(first) == 40 and first.row_count() == 0
    assert guard.filter(second) == 60 and second.row_count() == 20
    assert guard.filter(third) == 0 and third.row_count() == 10
    assert first.commit_positions() == {TP: 40}


def test_guard_recheck_finds_a_half_written_retry(backend: ClickHouseBackend) -> None:
    guard = OffsetGuard(backend)
    guard.assigned({TP})
    batch = filled(range(200, 260))
    assert guard.filter(batch) == 0
    rows = next(iter(batch.tables()))[1]
    backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, rows[:25])  # half-failed insert
    assert guard.filter(batch) == 0  # no recheck: the guard trusts a verified partition
    assert guard.filter(batch, recheck=True) == 25
    assert batch.row_count() == 35


def test_decode_routes_good_events_and_keeps_bad_ones() -> None:
    topics = Topics("i", "s", "dlq")
    table_routes = routes(topics, {})
    event = InteractionEvent(feature_id="d", interaction_type=["click"], position=2)
    table, row = decode(table_routes["i"], "i", 3, 7, b"d", encode(event))
    assert table == INTERACTIONS_TABLE and row == interaction_row(event, "i", 3, 7)
    table, row = decode(table_routes["i"], "i", 3, 8, b"k", b'{"feature_id": 1}')
    assert table == REJECTS_TABLE
    assert row[:5] == ("i", 3, 8, b"k", b'{"feature_id": 1}')
    assert "feature_id" in row[5]
    table, row = decode(table_routes["s"], "s", 0, 0, None, None)
    assert table == REJECTS_TABLE and row[5] == "empty message"
    huge = b'{"query": "q", "total_hits": 18446744073709551616}'
    table, row = decode(table_routes["s"], "s", 0, 1, None, huge)
    assert table == REJECTS_TABLE and row[5].startswith("total_hits:")
