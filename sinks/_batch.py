"""The messages the sink has read from Kafka and not yet inserted, as Arrow blocks per table."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future

import pyarrow as pa

from schemas.suppression import Tombstones
from sinks._decode import DecodedChunk, Span, TopicPartition
from sinks._suppress import suppress_block
from sinks._workers import result
from sinks.ddl import COL_KAFKA_OFFSET, COL_KAFKA_PARTITION, COL_KAFKA_TOPIC, COL_USER_ID

Decoded = DecodedChunk | Future[DecodedChunk]


class Batch:
    """Rows per table (Arrow, with their Kafka coordinates), and per partition what was read.

    Chunks may still be decoding in worker processes; `messages` and `empty` count what was
    read and never wait, everything else waits for the chunks first.

    Offsets to commit come from what was *read* (a partition's last offset + 1), not from
    what is still in the batch: rows skipped as already stored are done with too.
    """

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.messages = 0
        self._pending: list[Decoded] = []
        self._blocks: dict[str, list[pa.Table]] = {}
        self._spans: dict[TopicPartition, Span] = {}
        self.tombstone_version = -1
        """The tombstone version this batch was last filtered with (-1: not filtered)."""

    def add(self, decoded: Decoded, messages: int) -> None:
        """A chunk of `messages` messages, decoded or being decoded."""
        self._pending.append(decoded)
        self.messages += messages

    @property
    def empty(self) -> bool:
        return self.messages == 0

    def resolve(self) -> None:
        """Wait for chunks still being decoded (a dead worker raises DecodeWorkerError)."""
        pending, self._pending = self._pending, []
        for item in pending:
            chunk = result(item)
            for table, block in chunk.tables.items():
                self._blocks.setdefault(table, []).append(block)
            for tp, (first, last, count) in chunk.spans.items():
                known = self._spans.get(tp)
                if known is None:
                    self._spans[tp] = (first, last, count)
                else:
                    self._spans[tp] = (min(known[0], first), max(known[1], last), known[2] + count)

    @property
    def ranges(self) -> dict[TopicPartition, tuple[int, int]]:
        """Partition -> (first, last) offset read into this batch."""
        self.resolve()
        return {tp: (first, last) for tp, (first, last, _) in self._spans.items()}

    def tables(self) -> Iterable[tuple[str, pa.Table]]:
        """(table, rows as one Arrow table) for every table with rows, in a stable order."""
        self.resolve()
        for table in sorted(self._blocks):
            data = self._table(table)
            if data.num_rows:
                yield table, data

    def _table(self, table: str) -> pa.Table:
        blocks = self._blocks[table]
        if len(blocks) > 1:
            blocks[:] = [pa.concat_tables(blocks)]
        return blocks[0]

    def row_count(self) -> int:
        self.resolve()
        return sum(block.num_rows for blocks in self._blocks.values() for block in blocks)

    def commit_positions(self) -> dict[TopicPartition, int]:
        """The offset to commit per partition: the next one to read."""
        return {tp: last + 1 for tp, (_, last) in self.ranges.items()}

    def discard(self, keep: Callable[[TopicPartition, int], bool]) -> int:
        """Remove rows whose (partition, offset) `keep` rejects; returns how many went.

        Python per row: used only when rows are known to be stored already (after a crash or
        a failed insert) or their partition was revoked, never on the steady path.
        """
        self.resolve()
        removed = 0
        for table in list(self._blocks):
            data = self._table(table)
            mask = [
                keep((topic, partition), offset)
                for topic, partition, offset in zip(
                    data.column(COL_KAFKA_TOPIC).to_pylist(),
                    data.column(COL_KAFKA_PARTITION).to_pylist(),
                    data.column(COL_KAFKA_OFFSET).to_pylist(),
                    strict=True,
                )
            ]
            kept = data.filter(pa.array(mask, type=pa.bool_()))
            removed += data.num_rows - kept.num_rows
            self._blocks[table] = [kept]
        return removed

    def suppress(self, tombstones: Tombstones) -> Counter[str]:
        """Drop rows of forgotten users (every table with a user_id); per subject, how many.

        Offsets to commit are unchanged: dropped messages are done with, like stored ones."""
        self.resolve()
        self.tombstone_version = tombstones.version
        dropped: Counter[str] = Counter()
        if not tombstones:
            return dropped
        for table in list(self._blocks):
            data = self._table(table)
            if COL_USER_ID not in data.column_names:
                continue
            kept, gone = suppress_block(data, tombstones)
            if gone:
                self._blocks[table] = [kept]
                dropped.update(gone)
        return dropped

    def forget_partitions(self, partitions: set[TopicPartition]) -> int:
        """Drop everything read from `partitions` (revoked: their new owner re-reads them);
        returns how many messages went."""
        self.resolve()
        self.discard(lambda tp, _offset: tp not in partitions)
        dropped = 0
        for tp in partitions:
            span = self._spans.pop(tp, None)
            if span is not None:
                dropped += span[2]
        self.messages = max(0, self.messages - dropped)
        return dropped

    def dedup_token(self, group: str, table: str) -> str:
        """Insert token naming exactly the messages in this table's rows.

        Per partition: first/last offset, count and offset sum, hashed. A retry of the same
        rows gets the same token (ClickHouse then skips what it already has); any other set of
        rows gets another.
        """
        self.resolve()
        offset = COL_KAFKA_OFFSET
        summary = (
            self._table(table)
            .group_by([COL_KAFKA_TOPIC, COL_KAFKA_PARTITION])
            .aggregate([(offset, "min"), (offset, "max"), (offset, "count"), (offset, "sum")])
            .to_pydict()
        )
        parts = sorted(
            zip(
                summary[COL_KAFKA_TOPIC],
                summary[COL_KAFKA_PARTITION],
                summary[f"{offset}_min"],
                summary[f"{offset}_max"],
                summary[f"{offset}_count"],
                summary[f"{offset}_sum"],
                strict=True,
            )
        )
        text = ";".join(
            f"{topic}/{partition}:{lo}-{hi}#{n}+{total}"
            for topic, partition, lo, hi, n, total in parts
        )
        digest = hashlib.sha256(f"{group}|{table}|{text}".encode()).hexdigest()[:32]
        return f"sink-{digest}"
