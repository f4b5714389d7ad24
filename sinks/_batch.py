"""The rows the sink has read from Kafka and not yet inserted, with their Kafka coordinates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from schemas.clickhouse_ddl import Row

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _TableRows:
    rows: list[Row] = field(default_factory=list)
    coords: list[tuple[TopicPartition, int]] = field(default_factory=list)


class Batch:
    """Rows per table, and per partition the first and last offset read.

    Offsets to commit come from what was *read* (a partition's last offset + 1), not from
    what is still in the batch: rows skipped as already stored, or dropped as rejects, are
    done with too.
    """

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.messages = 0
        self._tables: dict[str, _TableRows] = {}
        self._ranges: dict[TopicPartition, tuple[int, int]] = {}

    def add(self, tp: TopicPartition, offset: int, table: str, row: Row) -> None:
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = _TableRows()
        rows.rows.append(row)
        rows.coords.append((tp, offset))
        first, last = self._ranges.get(tp, (offset, offset))
        self._ranges[tp] = (min(first, offset), max(last, offset))
        self.messages += 1

    @property
    def ranges(self) -> dict[TopicPartition, tuple[int, int]]:
        """Partition -> (first, last) offset read into this batch."""
        return dict(self._ranges)

    @property
    def empty(self) -> bool:
        return not self._ranges

    def tables(self) -> Iterable[tuple[str, list[Row]]]:
        """(table, rows) for every table with rows, in a stable order."""
        for table in sorted(self._tables):
            rows = self._tables[table].rows
            if rows:
                yield table, rows

    def row_count(self) -> int:
        return sum(len(t.rows) for t in self._tables.values())

    def commit_positions(self) -> dict[TopicPartition, int]:
        """The offset to commit per partition: the next one to read."""
        return {tp: last + 1 for tp, (_, last) in self._ranges.items()}

    def discard(self, keep: Callable[[TopicPartition, int], bool]) -> int:
        """Remove rows whose (partition, offset) `keep` rejects; returns how many went."""
        removed = 0
        for table_rows in self._tables.values():
            kept_rows: list[Row] = []
            kept_coords: list[tuple[TopicPartition, int]] = []
            for row, coord in zip(table_rows.rows, table_rows.coords, strict=True):
                if keep(*coord):
                    kept_rows.append(row)
                    kept_coords.append(coord)
            removed += len(table_rows.rows) - len(kept_rows)
            table_rows.rows, table_rows.coords = kept_rows, kept_coords
        return removed

    def forget_partitions(self, partitions: set[TopicPartition]) -> int:
        """Drop everything read from `partitions` (revoked: their new owner re-reads them)."""
        removed = self.discard(lambda tp, _offset: tp not in partitions)
        for tp in partitions:
            self._ranges.pop(tp, None)
        self.messages = max(0, self.messages - removed)
        return removed

    def dedup_token(self, group: str, table: str) -> str:
        """Insert token naming exactly the messages in this table's rows.

        Per partition: first/last offset, count and offset sum, hashed. A retry of the same
        rows gets the same token (ClickHouse then skips what it already has); any other set of
        rows gets another.
        """
        summary: dict[TopicPartition, list[int]] = {}
        for tp, offset in self._tables[table].coords:
            entry = summary.setdefault(tp, [offset, offset, 0, 0])
            entry[0] = min(entry[0], offset)
            entry[1] = max(entry[1], offset)
            entry[2] += 1
            entry[3] += offset
        text = ";".join(
            f"{topic}/{partition}:{lo}-{hi}#{n}+{total}"
            for (topic, partition), (lo, hi, n, total) in sorted(summary.items())
        )
        digest = hashlib.sha256(f"{group}|{table}|{text}".encode()).hexdigest()[:32]
        return f"sink-{digest}"
