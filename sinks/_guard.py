"""Exactly-once into ClickHouse: skip messages an earlier attempt already inserted.

Kafka redelivers everything after the last committed offset. Between an insert and its
offset commit the sink can die (kill -9), and an insert can fail half-way (one part per
month of the batch is written, another is not). Every row carries its Kafka coordinates, so
the sink asks ClickHouse which of the messages it is about to insert are already there:

* once per partition after it is assigned: every stored offset at or after the first offset
  read (an earlier run may have inserted a batch larger than the one now being built, so the
  answer is kept until the sink has read past it);
* for the whole batch again before every retry of a failed insert.

Only a partition's own rows are compared, and only in the offset range being written, so the
check reads a few recent granules (the tables carry a minmax index on `kafka_offset`).
Insert deduplication tokens (sinks._batch) add a second line for a retry whose first attempt
is still finishing on a server.
"""

from __future__ import annotations

from typing import Any

from sinks._backend import ClickHouseBackend
from sinks._batch import Batch
from sinks._decode import TopicPartition
from sinks.ddl import (
    COL_KAFKA_OFFSET,
    COL_KAFKA_PARTITION,
    COL_KAFKA_TOPIC,
    EVENT_TABLES,
    REJECTS_TABLE,
)

_TABLES = (*EVENT_TABLES, REJECTS_TABLE)
_NO_UPPER_BOUND = 2**64 - 1


class OffsetGuard:
    """Tracks which assigned partitions still need checking, and filters batches."""

    def __init__(self, backend: ClickHouseBackend) -> None:
        self._backend = backend
        self._unchecked: set[TopicPartition] = set()
        self._stored: dict[TopicPartition, set[int]] = {}

    def assigned(self, partitions: set[TopicPartition]) -> None:
        self._unchecked |= partitions

    def revoked(self, partitions: set[TopicPartition]) -> None:
        self._unchecked -= partitions
        for tp in partitions:
            self._stored.pop(tp, None)

    def filter(self, batch: Batch, *, recheck: bool = False) -> int:
        """Drop rows already in ClickHouse from `batch`; returns how many were dropped.

        `recheck=True` (before a retry) compares every partition of the batch, not only the
        newly assigned ones.
        """
        ranges = batch.ranges
        bounds: dict[TopicPartition, tuple[int, int]] = {}
        for tp, (first, last) in ranges.items():
            if tp in self._unchecked:
                bounds[tp] = (first, _NO_UPPER_BOUND)
            elif recheck:
                bounds[tp] = (first, last)
        if bounds:
            found = self._stored_offsets(bounds)
            for tp in bounds:
                if tp in self._unchecked:
                    self._unchecked.discard(tp)
                    self._stored[tp] = found.get(tp, set())
                else:
                    self._stored.setdefault(tp, set()).update(found.get(tp, set()))
        if not any(self._stored.get(tp) for tp in ranges):
            return 0
        stored = self._stored
        empty: set[int] = set()
        dropped = batch.discard(lambda tp, offset: offset not in stored.get(tp, empty))
        self._forget_passed(ranges)
        return dropped

    def _forget_passed(self, ranges: dict[TopicPartition, tuple[int, int]]) -> None:
        """Offsets at or below what this batch read will not come again; drop them."""
        for tp, (_, last) in ranges.items():
            offsets = self._stored.get(tp)
            if offsets is None:
                continue
            remaining = {o for o in offsets if o > last}
            if remaining:
                self._stored[tp] = remaining
            else:
                del self._stored[tp]

    def _stored_offsets(
        self, bounds: dict[TopicPartition, tuple[int, int]]
    ) -> dict[TopicPartition, set[int]]:
        conditions = []
        params: dict[str, Any] = {}
        for i, ((topic, partition), (first, last)) in enumerate(sorted(bounds.items())):
            conditions.append(
                f"({COL_KAFKA_TOPIC} = {{t{i}:String}} AND {COL_KAFKA_PARTITION} = {{p{i}:UInt32}}"
                f" AND {COL_KAFKA_OFFSET} BETWEEN {{lo{i}:UInt64}} AND {{hi{i}:UInt64}})"
            )
            params |= {f"t{i}": topic, f"p{i}": partition, f"lo{i}": first, f"hi{i}": last}
        where = " OR ".join(conditions)
        union = " UNION ALL ".join(
            f"SELECT {COL_KAFKA_TOPIC} AS t, {COL_KAFKA_PARTITION} AS p, {COL_KAFKA_OFFSET} AS o "
            f"FROM {table} WHERE {where}"
            for table in _TABLES
        )
        found: dict[TopicPartition, set[int]] = {}
        table = self._backend.query_arrow(union, params)
        for topic, partition, offset in zip(
            table.column("t").to_pylist(),
            table.column("p").to_pylist(),
            table.column("o").to_pylist(),
            strict=True,
        ):
            found.setdefault((topic, int(partition)), set()).add(int(offset))
        return found
