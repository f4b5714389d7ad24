"""The newest messages of a topic, read without joining a consumer group.

The console's "accepted events" are what Kafka acknowledged (SDK and HTTP alike, before the
worker or the sink touch them), and dead letters live only in their topic, so both are read
from the end of the topics: partitions are assigned by hand at `high watermark - depth`, read
up to the high watermark seen at the start, and the consumer is closed. Nothing is committed
and no group is joined, so the pipeline's consumers never notice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)

from schemas.errors import KafkaUnavailableError

TAIL_GROUP_ID: Final = "interactions-console"
"""Required by the client; never joined (partitions are assigned) and never committed."""


@dataclass(frozen=True, slots=True)
class TailMessage:
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    """The message's Kafka timestamp: when the producer sent it (arrival, not event time)."""
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


class TopicTail:
    """Reads the last messages of topics; one consumer per call, one call at a time."""

    def __init__(self, bootstrap_servers: str, timeout_s: float = 5.0) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout_s = timeout_s
        self._lock = threading.Lock()

    def latest(self, topic: str, per_partition: int) -> list[TailMessage]:
        """Up to `per_partition` newest messages of each partition, in no particular order.

        Raises KafkaUnavailableError when the broker does not answer in time."""
        with self._lock:
            consumer = Consumer(
                {
                    "bootstrap.servers": self._bootstrap,
                    "group.id": TAIL_GROUP_ID,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "socket.timeout.ms": int(self._timeout_s * 1000),
                }
            )
            try:
                return self._read(consumer, topic, per_partition)
            except KafkaException as exc:
                raise KafkaUnavailableError(f"kafka: reading {topic}: {exc}") from None
            finally:
                consumer.close()

    def _read(self, consumer: Consumer, topic: str, per_partition: int) -> list[TailMessage]:
        metadata = consumer.list_topics(topic, timeout=self._timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return []
        ends: dict[int, int] = {}
        assignment: list[TopicPartition] = []
        for partition in sorted(found.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self._timeout_s
            )
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, max(low, high - per_partition)))
        if not assignment:
            return []
        consumer.assign(assignment)
        messages: list[TailMessage] = []
        deadline = time.monotonic() + self._timeout_s
        pending = set(ends)
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                partition, offset = msg.partition(), msg.offset()
                if partition is None or offset is None or msg.error() is not None:
                    pending.discard(partition or 0)  # end of partition (or its error)
                    continue
                if offset >= ends[partition]:
                    pending.discard(partition)
                    continue
                messages.append(_message(msg, partition, offset))
                if offset + 1 >= ends[partition]:
                    pending.discard(partition)
        return messages


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _message(msg: Message, partition: int, offset: int) -> TailMessage:
    kind, millis = msg.timestamp()
    stamp = None if kind == TIMESTAMP_NOT_AVAILABLE else datetime.fromtimestamp(millis / 1000, UTC)
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    headers = {name: _bytes(value) or b"" for name, value in pairs}
    return TailMessage(
        topic=msg.topic() or "",
        partition=partition,
        offset=offset,
        timestamp=stamp,
        key=_bytes(msg.key()),
        value=_bytes(msg.value()),
        headers=headers,
    )
