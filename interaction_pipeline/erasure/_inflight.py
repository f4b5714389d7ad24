"""The events between the sink and the end of the topic: read from Kafka by the erasure.

The worker may count an event of the user just before it acknowledges the tombstone, while
the sink, already filtering with it (or only reaching it later), drops it: that event is in
the counts but never in ClickHouse. Every such event sits at or after the position the
sink's group had committed *before* the tombstone was written (what the sink committed
before was stored with an older view), and before the end of the topic once every consumer
acknowledged (the worker read it before acknowledging). So the erasure records the sink's
committed positions first, and after the wait reads that range of the interactions topic
and keeps the person's events. Usually a few hundred messages (the sink's lag); after a
long sink outage it is the whole backlog, read once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Final

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from schemas.errors import DecodeError, KafkaUnavailableError
from schemas.events import InteractionEvent, effective_types
from schemas.settings import Settings
from schemas.wire import decode_interaction
from sinks import RowMatch
from stream_processors.erasure import CountedEvent

_TIMEOUT_S: Final = 10.0
_CHUNK: Final = 5_000
_SCAN_LIMIT_S: Final = 600.0
"""A scan longer than this fails the job (retried later); the sink is hours behind."""

Positions = dict[int, int]
"""partition -> offset"""


def _consumer(settings: Settings, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )


def sink_positions(settings: Settings) -> Positions:
    """Per partition of the interactions topic, the first offset the sink group has not
    committed (the start of the partition when it committed nothing there)."""
    topic = settings.topics.interactions
    consumer = _consumer(settings, settings.sink.group_id)
    try:
        metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S)
        partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        out: Positions = {}
        for tp in consumer.committed(partitions, timeout=_TIMEOUT_S):
            if tp.offset >= 0:
                out[tp.partition] = tp.offset
            else:
                low, _ = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
                out[tp.partition] = low
        return out
    except KafkaException as exc:
        raise KafkaUnavailableError(f"Kafka does not answer: {exc}") from exc
    finally:
        consumer.close()


def matcher(match: RowMatch) -> Callable[[dict[str, Any]], bool]:
    """The same rule as `RowMatch.where` (ids as stored, times inclusive), on a raw event."""
    anonymous = set(match.anonymous_ids)

    def person(data: dict[str, Any]) -> bool:
        if match.user_id is None and not anonymous:
            return True
        if match.user_id is not None and data.get("user_id") == match.user_id:
            return True
        return data.get("anonymous_id") in anonymous

    return person


def unstored_events(settings: Settings, start: Positions, match: RowMatch) -> list[CountedEvent]:
    """The person's interactions from `start` to the current end of each partition."""
    topic = settings.topics.interactions
    person = matcher(match)
    since = match.since_ms
    until = match.until_ms
    context = {"max_future_skew_s": float(2**40)}
    long_view_ms = settings.events.long_view_ms
    consumer = _consumer(settings, f"erasure-scan-{uuid.uuid4().hex}")
    found: list[CountedEvent] = []
    try:
        ends: Positions = {}
        for partition, offset in start.items():
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_TIMEOUT_S
            )
            if high > offset:
                ends[partition] = high
        if not ends:
            return found
        consumer.assign([TopicPartition(topic, p, start[p]) for p in ends])
        pending = set(ends)
        deadline = time.monotonic() + _SCAN_LIMIT_S
        while pending:
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(
                    f"reading {topic} for in-flight events took over {_SCAN_LIMIT_S:.0f} s"
                )
            for msg in consumer.consume(num_messages=_CHUNK, timeout=1.0):
                part, err, at = msg.partition(), msg.error(), msg.offset()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(part or 0)
                        continue
                    raise KafkaUnavailableError(f"reading {topic}: {err.str()}")
                if part is None or at is None or part not in pending:
                    continue
                if at >= ends[part] - 1:
                    pending.discard(part)
                if at >= ends[part]:
                    continue
                event = _decode(msg.value(), person, context)
                if event is None:
                    continue
                event_ms = int(event.timestamp.timestamp() * 1000)
                if (since is not None and event_ms < since) or (
                    until is not None and event_ms > until
                ):
                    continue
                found.append(
                    CountedEvent(
                        event.feature_id,
                        event_ms,
                        event.event_id.bytes,
                        tuple(effective_types(event, long_view_ms)),
                        None,
                        part,
                        at,
                    )
                )
        return found
    except KafkaException as exc:
        raise KafkaUnavailableError(f"Kafka does not answer: {exc}") from exc
    finally:
        consumer.close()


def _decode(
    value: bytes | None, person: Callable[[dict[str, Any]], bool], context: dict[str, Any]
) -> InteractionEvent | None:
    """The event when it is the person's and valid (invalid ones were counted by no one)."""
    if not value:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not person(data):
        return None
    try:
        return decode_interaction(value, context)
    except DecodeError:
        return None
