"""From a batch of Kafka records to what the Redis scripts apply: decode, classify, group.

Pure (no I/O) so it is unit-tested directly. Each record ends in exactly one bucket: rejected
(goes to the dead-letter topic), late, future, or one entry of a feature's event list. Events
are grouped per (feature, topic, partition) in offset order, because that is the unit the
apply script makes exactly-once with the partition's offset watermark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from schemas.errors import DecodeError
from schemas.events import effective_types
from schemas.settings import Settings
from schemas.suppression import NO_TOMBSTONES, Tombstones
from schemas.wire import decode_interaction
from stream_processors._windows import Timeliness, hour_of, timeliness
from stream_processors.keys import history_member

_DAY_MS: Final = 86_400_000
_LAST_INSTANT: Final = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


class KafkaRecord(Protocol):
    """What the planner reads of a Kafka message: Faust's `Message` as delivered (no copy
    per event on the hot path), or a `Record`."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message, built by hand (tests, tools)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    record: KafkaRecord
    reason: str


@dataclass(slots=True)
class FeatureEvents:
    """One feature's events from one partition, in offset order."""

    feature_id: str
    topic: str
    partition: int
    events: list[tuple[int, bytes, int, list[str]]] = field(default_factory=list)
    """(offset, event_id as 16 bytes, hour bucket, effective types)."""


@dataclass(slots=True)
class Plan:
    now_ms: int
    features: dict[tuple[str, str, int], FeatureEvents] = field(default_factory=dict)
    history: dict[str, dict[str, int]] = field(default_factory=dict)
    """user_id -> history member -> latest event time (ms)."""
    anonymous_history: dict[str, dict[str, int]] = field(default_factory=dict)
    """anonymous_id (events without a user_id) -> history member -> latest event time."""
    suppressed: Counter[str] = field(default_factory=Counter)
    """Tombstone subject -> events of a forgotten user dropped (schemas.suppression)."""
    dropped: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    """feature_id -> (partition, offset, hour bucket) of each event dropped for a tombstone:
    marked before the batch is applied, so an erasure can tell them from counted ones."""
    rejected: list[Rejected] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    """late / future counts for metrics."""
    last_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def event_count(self) -> int:
        return sum(len(f.events) for f in self.features.values())


class Planner:
    """Settings-bound classification of records (weights and windows do not change per batch)."""

    def __init__(self, settings: Settings) -> None:
        self._long_view_ms = settings.events.long_view_ms
        self._max_window_days = settings.popularity.max_window_days
        self._max_future_skew_s = settings.events.max_future_skew_s
        self._history_ms = settings.popularity.history_days * _DAY_MS

    def plan(
        self,
        records: Sequence[KafkaRecord],
        now_ms: int,
        tombstones: Tombstones = NO_TOMBSTONES,
    ) -> Plan:
        plan = Plan(now_ms)
        history_cutoff = now_ms - self._history_ms
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        # Future events are classified below (counted, not applied), not refused as invalid.
        context = {"now": now, "max_future_skew_s": (_LAST_INSTANT - now).total_seconds()}
        for record in records:
            position = (record.topic, record.partition)
            if record.offset > plan.last_offsets.get(position, -1):
                plan.last_offsets[position] = record.offset
            if not record.value:
                plan.rejected.append(Rejected(record, "empty message"))
                continue
            try:
                event = decode_interaction(record.value, context)
            except DecodeError as exc:
                plan.rejected.append(Rejected(record, exc.reason))
                continue
            event_ms = int(event.timestamp.timestamp() * 1000)
            if tombstones:
                subject = tombstones.subject_of(event.user_id, event.anonymous_id, event_ms)
                if subject is not None:
                    plan.suppressed[subject] += 1
                    plan.dropped.setdefault(event.feature_id, []).append(
                        (record.partition, record.offset, hour_of(event_ms))
                    )
                    continue
            when = timeliness(event_ms, now_ms, self._max_window_days, self._max_future_skew_s)
            if when is Timeliness.FUTURE:
                plan.outcomes["future"] += 1
                continue
            types = effective_types(event, self._long_view_ms)
            owner = plan.history
            person = event.user_id
            if person is None and event.anonymous_id is not None:
                owner, person = plan.anonymous_history, event.anonymous_id
            if person is not None and event_ms >= history_cutoff:
                members = owner.setdefault(person, {})
                for interaction_type in types:
                    member = history_member(interaction_type, event.feature_id)
                    if event_ms > members.get(member, -1):
                        members[member] = event_ms
            if when is Timeliness.LATE:
                plan.outcomes["late"] += 1
                continue
            group = (event.feature_id, record.topic, record.partition)
            feature = plan.features.get(group)
            if feature is None:
                feature = plan.features[group] = FeatureEvents(*group)
            feature.events.append((record.offset, event.event_id.bytes, hour_of(event_ms), types))
        for feature in plan.features.values():
            feature.events.sort(key=lambda e: e[0])
        return plan
