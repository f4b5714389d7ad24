"""Kafka message -> ClickHouse row: the event's row when it decodes, a reject row when not.

Decoding goes through the event contract (schemas.wire), the same validation producers
apply (interactions through its fast path first, `schemas.fast_validation`), so a row in
ClickHouse always satisfies the contract; a message that does not becomes a
`sink_rejects` row with its original bytes and the reason, and the sink goes on.

The sink decodes a poll's messages of one topic at a time (`ChunkDecoder`), straight into
one Arrow block per table: that is what chDB ingests, and a block crosses a process boundary
cheaply, so chunks can be decoded in worker processes (sinks._workers).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from schemas.errors import DecodeError
from schemas.events import InteractionEvent, SearchEvent
from schemas.fast_validation import fast_interaction_json
from schemas.topics import Topics
from schemas.wire import decode_interaction, decode_search, encode
from sinks._arrow import rows_to_arrow
from sinks.ddl import (
    COL_KAFKA_OFFSET,
    COL_KAFKA_PARTITION,
    COL_KAFKA_TOPIC,
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    SEARCH_EVENT_COLUMNS,
    SEARCH_EVENTS_TABLE,
    TABLE_COLUMNS,
    Row,
    interaction_row,
    search_event_row,
)

RowBuilder = Callable[[bytes, str, int, int], Row]
TopicPartition = tuple[str, int]
Span = tuple[int, int, int]
"""(first offset, last offset, message count) read from one partition."""

_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Route:
    """Where one topic's messages go and how they are decoded."""

    table: str
    columns: tuple[str, ...]
    build: RowBuilder


def routes(topics: Topics, context: dict[str, Any]) -> dict[str, Route]:
    """Topic name -> Route, for both event topics."""

    def interaction(value: bytes, topic: str, partition: int, offset: int) -> Row:
        # The fast path accepts; for anything else the contract decides, and writes the
        # reason a reject row carries.
        event = fast_interaction_json(value, context)
        if event is None:
            event = decode_interaction(value, context)
        return interaction_row(event, topic, partition, offset)

    def search(value: bytes, topic: str, partition: int, offset: int) -> Row:
        event = decode_search(value, context)
        if event.total_hits > _UINT64_MAX:  # the contract has no upper bound; the column has
            raise DecodeError(f"total_hits: must be at most {_UINT64_MAX}, got {event.total_hits}")
        return search_event_row(event, topic, partition, offset)

    return {
        topics.interactions: Route(INTERACTIONS_TABLE, INTERACTION_COLUMNS, interaction),
        topics.searches: Route(SEARCH_EVENTS_TABLE, SEARCH_EVENT_COLUMNS, search),
    }


def reject_row(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> Row:
    """A `sink_rejects` row in REJECT_COLUMNS order; key and payload kept byte for byte."""
    return (topic, partition, offset, key or b"", value or b"", reason, datetime.now(UTC))


def decode(
    route: Route, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> tuple[str, Row]:
    """(table, row) for one message; never raises for bad input."""
    if not value:
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, "empty message")
    try:
        return route.table, route.build(value, topic, partition, offset)
    except DecodeError as exc:
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, exc.reason)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. metadata orjson cannot dump
        reason = f"cannot store: {exc}"
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, reason)


@dataclass(slots=True)
class MessageChunk:
    """Messages of one topic from one poll, as plain values (what a worker process receives)."""

    topic: str
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True, slots=True)
class DecodedChunk:
    """One Arrow block per table that got rows, and what was read from each partition."""

    tables: dict[str, pa.Table]
    spans: dict[TopicPartition, Span]


class ChunkDecoder:
    """Decodes MessageChunks into Arrow blocks typed like the tables' columns.

    Built from plain values (topic names, the validation context, Arrow schemas) so that a
    worker process can build its own.
    """

    def __init__(
        self, topics: Topics, context: dict[str, Any], schemas: Mapping[str, pa.Schema]
    ) -> None:
        self._topics = topics
        self._routes = routes(topics, context)
        self._schemas = dict(schemas)

    def decode(self, chunk: MessageChunk) -> DecodedChunk:
        """Every message of `chunk` becomes exactly one row: its table's, or a reject.

        The cyclic garbage collector is paused meanwhile: decoding allocates ~10 tracked
        objects per message and frees nearly all of them by reference counting, yet their
        count alone triggers collections that cost ~20% of the decode time.
        """
        with _gc_paused():
            return self._decode(chunk)

    def warm_up(self) -> None:
        """Decode a sample of each kind once: the first decode in a process pays ~0.2 s of
        lazy imports (pyarrow loads pandas and its compute kernels on first use), which
        belongs to the sink's start, not to its first batch."""
        samples = {
            self._topics.interactions: encode(
                InteractionEvent(feature_id="warm-up", interaction_type=["click"], position=0)
            ),
            self._topics.searches: encode(SearchEvent(query="warm-up", total_hits=0)),
        }
        for topic, value in samples.items():
            self.decode(MessageChunk(topic, [0, 0], [0, 1], [None, None], [value, b"{}"]))

    def _decode(self, chunk: MessageChunk) -> DecodedChunk:
        route = self._routes[chunk.topic]
        topic, table = chunk.topic, route.table
        rows: list[Row] = []
        rejects: list[Row] = []
        for partition, offset, key, value in zip(
            chunk.partitions, chunk.offsets, chunk.keys, chunk.values, strict=True
        ):
            target, row = decode(route, topic, partition, offset, key, value)
            (rows if target == table else rejects).append(row)
        tables: dict[str, pa.Table] = {}
        if rows:
            try:
                tables[table] = self._block(table, rows)
            except (pa.ArrowException, ValueError, TypeError, OverflowError):
                kept = self._keep_storable(chunk, route, rows, rejects)
                if kept:
                    tables[table] = self._block(table, kept)
        if rejects:
            tables[REJECTS_TABLE] = self._block(REJECTS_TABLE, rejects)
        return DecodedChunk(tables, _spans(tables.values()))

    def _block(self, table: str, rows: list[Row]) -> pa.Table:
        return rows_to_arrow(self._schemas[table], TABLE_COLUMNS[table], rows)

    def _keep_storable(
        self, chunk: MessageChunk, route: Route, rows: list[Row], rejects: list[Row]
    ) -> list[Row]:
        """Slow path: some row has a value its column cannot hold; reject just those rows."""
        by_offset = {
            (p, o): (k, v)
            for p, o, k, v in zip(
                chunk.partitions, chunk.offsets, chunk.keys, chunk.values, strict=True
            )
        }
        kept: list[Row] = []
        columns = TABLE_COLUMNS[route.table]
        at_partition = columns.index(COL_KAFKA_PARTITION)
        at_offset = columns.index(COL_KAFKA_OFFSET)
        for row in rows:
            try:
                self._block(route.table, [row])
            except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
                partition, offset = row[at_partition], row[at_offset]
                key, value = by_offset[(partition, offset)]
                reason = f"cannot store: {exc}"
                rejects.append(reject_row(chunk.topic, partition, offset, key, value, reason))
            else:
                kept.append(row)
        return kept


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _spans(blocks: Any) -> dict[TopicPartition, Span]:
    """Per partition: first and last offset and message count, over every block's rows."""
    spans: dict[TopicPartition, Span] = {}
    for block in blocks:
        summary = block.group_by([COL_KAFKA_TOPIC, COL_KAFKA_PARTITION]).aggregate(
            [(COL_KAFKA_OFFSET, "min"), (COL_KAFKA_OFFSET, "max"), (COL_KAFKA_OFFSET, "count")]
        )
        columns = summary.to_pydict()
        for topic, partition, first, last, count in zip(
            columns[COL_KAFKA_TOPIC],
            columns[COL_KAFKA_PARTITION],
            columns[f"{COL_KAFKA_OFFSET}_min"],
            columns[f"{COL_KAFKA_OFFSET}_max"],
            columns[f"{COL_KAFKA_OFFSET}_count"],
            strict=True,
        ):
            tp = (topic, partition)
            known = spans.get(tp)
            if known is None:
                spans[tp] = (first, last, count)
            else:
                spans[tp] = (min(known[0], first), max(known[1], last), known[2] + count)
    return spans
