"""Batch bookkeeping, insert tokens, the offset guard, and message decoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from schemas.topics import Topics
from schemas.wire import encode
from sinks import ClickHouseBackend, migrate, open_backend
from sinks._arrow import arrow_type
from sinks._batch import Batch
from sinks._decode import ChunkDecoder, MessageChunk, decode, routes
from sinks._guard import OffsetGuard
from sinks.ddl import (
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    SEARCH_EVENTS_TABLE,
    interaction_row,
)

pytestmark = pytest.mark.unit

TOPICS = Topics("interactions", "searches", "dlq")
TP = ("interactions", 0)
TP2 = ("interactions", 1)


@pytest.fixture
def decoder(schemas: dict[str, pa.Schema]) -> ChunkDecoder:
    return ChunkDecoder(TOPICS, {}, schemas)


def chunk(
    offsets: range, tp: tuple[str, int] = TP, bad: frozenset[int] = frozenset()
) -> MessageChunk:
    """Interaction messages at `offsets` of `tp`; those in `bad` are not valid JSON."""
    out = MessageChunk(tp[0])
    for offset in offsets:
        event = InteractionEvent(feature_id=f"d{offset}", interaction_type=["click"])
        out.partitions.append(tp[1])
        out.offsets.append(offset)
        out.keys.append(b"k")
        out.values.append(b"{not json" if offset in bad else encode(event))
    return out


def filled(decoder: ChunkDecoder, *chunks: MessageChunk) -> Batch:
    batch = Batch(0.0)
    for part in chunks:
        batch.add(decoder.decode(part), len(part))
    return batch


def test_commit_positions_follow_what_was_read_not_what_is_kept(decoder: ChunkDecoder) -> None:
    batch = filled(decoder, chunk(range(10, 20)), chunk(range(5, 6), TP2, bad=frozenset({5})))
    assert batch.messages == 11
    assert dict(batch.tables())[REJECTS_TABLE].num_rows == 1
    assert batch.commit_positions() == {TP: 20, TP2: 6}
    assert batch.discard(lambda tp, offset: offset % 2 == 0) == 6
    assert batch.commit_positions() == {TP: 20, TP2: 6}
    assert batch.row_count() == 5


def test_dedup_token_names_exactly_the_rows(decoder: ChunkDecoder) -> None:
    a, b = (
        filled(decoder, chunk(range(100))),
        filled(decoder, chunk(range(50)), chunk(range(50, 100))),
    )
    assert a.dedup_token("g", INTERACTIONS_TABLE) == b.dedup_token("g", INTERACTIONS_TABLE)
    assert a.dedup_token("g", INTERACTIONS_TABLE) != a.dedup_token("h", INTERACTIONS_TABLE)
    b.discard(lambda _tp, offset: offset != 50)
    assert a.dedup_token("g", INTERACTIONS_TABLE) != b.dedup_token("g", INTERACTIONS_TABLE)
    shifted = filled(decoder, chunk(range(1, 101)))
    assert shifted.dedup_token("g", INTERACTIONS_TABLE) != a.dedup_token("g", INTERACTIONS_TABLE)


def test_revoked_partitions_leave_the_batch(decoder: ChunkDecoder) -> None:
    batch = filled(decoder, chunk(range(5)), chunk(range(3), TP2))
    assert batch.forget_partitions({TP}) == 5
    assert batch.commit_positions() == {TP2: 3}
    assert batch.messages == 3 and batch.row_count() == 3


def test_every_message_becomes_exactly_one_row(decoder: ChunkDecoder) -> None:
    interactions = chunk(range(100, 110), bad=frozenset({103, 107}))
    interactions.partitions[5:] = [2] * 5  # two partitions in one poll
    decoded = decoder.decode(interactions)
    assert decoded.tables[INTERACTIONS_TABLE].num_rows == 8
    assert decoded.tables[REJECTS_TABLE].column("kafka_offset").to_pylist() == [103, 107]
    assert decoded.spans == {TP: (100, 104, 5), ("interactions", 2): (105, 109, 5)}
    search = SearchEvent(query="q", results=["a", "b"], total_hits=2)
    searches = MessageChunk("searches", [0, 0], [7, 8], [None, b"k"], [encode(search), b""])
    decoded = decoder.decode(searches)
    assert decoded.tables[SEARCH_EVENTS_TABLE].column("results").to_pylist() == [["a", "b"]]
    assert decoded.tables[REJECTS_TABLE].column("reason").to_pylist() == ["empty message"]


def test_a_value_its_column_cannot_hold_rejects_only_that_row(
    schemas: dict[str, pa.Schema],
) -> None:
    # Stand-in for a contract that allows more than a column holds: position as UInt8 here.
    narrow = schemas | {
        INTERACTIONS_TABLE: schemas[INTERACTIONS_TABLE].set(
            schemas[INTERACTIONS_TABLE].get_field_index("position"),
            pa.field("position", pa.uint8()),
        )
    }
    decoder = ChunkDecoder(TOPICS, {}, narrow)
    values: list[bytes | None] = [
        encode(InteractionEvent(feature_id=f"d{i}", interaction_type=["click"], position=p))
        for i, p in enumerate([1, 300, 2])
    ]
    decoded = decoder.decode(MessageChunk("interactions", [0, 0, 0], [0, 1, 2], [None] * 3, values))
    assert decoded.tables[INTERACTIONS_TABLE].column("position").to_pylist() == [1, 2]
    rejects = decoded.tables[REJECTS_TABLE]
    assert rejects.column("kafka_offset").to_pylist() == [1]
    assert rejects.column("reason")[0].as_py().startswith("cannot store:")
    assert rejects.column("payload")[0].as_py() == values[1]
    assert decoded.spans == {TP: (0, 2, 3)}


@pytest.mark.parametrize(
    ("clickhouse", "arrow"),
    [
        ("UUID", pa.uuid()),
        ("DateTime64(6, 'UTC')", pa.timestamp("us", tz="UTC")),
        ("DateTime64(3)", pa.timestamp("ms", tz="UTC")),
        ("DateTime('Europe/Berlin')", pa.timestamp("s", tz="Europe/Berlin")),
        ("Array(LowCardinality(String))", pa.list_(pa.string())),
        ("Nullable(UInt16)", pa.uint16()),
        ("LowCardinality(Nullable(String))", pa.string()),
        ("UInt64", pa.uint64()),
    ],
)
def test_clickhouse_types_map_to_arrow(clickhouse: str, arrow: pa.DataType) -> None:
    assert arrow_type(clickhouse) == arrow


def test_an_unknown_clickhouse_type_names_itself() -> None:
    with pytest.raises(ValueError, match=r"Decimal\(10, 2\)"):
        arrow_type("Nullable(Decimal(10, 2))")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    opened = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    migrate(opened)
    yield opened
    opened.close()


def test_guard_skips_what_an_earlier_larger_batch_stored(
    backend: ClickHouseBackend, decoder: ChunkDecoder
) -> None:
    # A crashed run stored offsets 0..99 of partition 0 without committing them.
    for table, data in filled(decoder, chunk(range(100))).tables():
        backend.insert_arrow(table, data)
    guard = OffsetGuard(backend)
    guard.assigned({TP, TP2})
    # The new run re-reads them in smaller batches, then new messages follow.
    first = filled(decoder, chunk(range(40)))
    second = filled(decoder, chunk(range(40, 120)))
    third = filled(decoder, chunk(range(120, 130)))
    assert guard.filter(first) == 40 and first.row_count() == 0
    assert guard.filter(second) == 60 and second.row_count() == 20
    assert guard.filter(third) == 0 and third.row_count() == 10
    assert first.commit_positions() == {TP: 40}


def test_guard_recheck_finds_a_half_written_retry(
    backend: ClickHouseBackend, decoder: ChunkDecoder
) -> None:
    guard = OffsetGuard(backend)
    guard.assigned({TP})
    batch = filled(decoder, chunk(range(200, 260)))
    assert guard.filter(batch) == 0
    data = dict(batch.tables())[INTERACTIONS_TABLE]
    backend.insert_arrow(INTERACTIONS_TABLE, data.slice(0, 25))  # half-failed insert
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
