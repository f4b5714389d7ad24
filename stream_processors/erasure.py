"""Taking a forgotten user's events out of the popularity counts and trending sets (sync).

The erasure (interaction_pipeline.erasure) gathers every copy of the user's events the worker
may have counted (stored rows from ClickHouse, plus what is still between the sink and the
end of the topic, read from Kafka) with their Kafka positions, and hands them here. Per
feature, one erase.lua call keeps the copies the worker's own record says it counted (at or
below the feature's offset watermark, not marked as dropped for a tombstone) and subtracts
them atomically in the feature's slot, each event_id at most once (a retried erasure is a
no-op), so a reader never sees a count below the true one or a count applied twice. The new
absolute trending scores are then written with publish.lua, and the feature's `erased` flag
makes the worker's next batch on it rewrite them too, so a worker that remembered older
scores cannot put them back.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from schemas.interaction_types import LONG_VIEW, TypeRegistry
from schemas.settings import Settings
from stream_processors._scripts import scripts
from stream_processors._trending import REMOVE, TrendingLayout
from stream_processors._windows import HOURS_PER_DAY, check_windows, hour_of
from stream_processors.keys import FIELD_SEP, OFFSET_PREFIX, RedisKeys

_EVENT: Final = struct.Struct(">i16siq")
"""hour bucket, event_id, Kafka partition, offset; then the types and a zero byte."""
_FEATURES_PER_ROUND: Final = 500


@dataclass(frozen=True, slots=True)
class CountedEvent:
    """One copy of an event as the worker would have counted it: feature, event time, id,
    types, and where it sits in the interactions topic (what tells whether it was counted)."""

    feature_id: str
    event_ms: int
    event_id: bytes
    types: tuple[str, ...]
    duration_ms: int | None = None
    partition: int = 0
    offset: int = 0


@dataclass(slots=True)
class SubtractResult:
    events: int = 0
    """Events whose counts were subtracted now (not by an earlier attempt)."""
    not_counted: int = 0
    """Candidate copies in the windows the worker never counted (dropped, or not read yet:
    it will drop them)."""
    features: int = 0
    trending_updates: int = 0
    features_touched: list[str] = field(default_factory=list)


class PopularityEraser:
    """Subtracts events from the counts of the worker under `settings.redis.key_prefix`."""

    def __init__(self, client: redis.Redis[Any], settings: Settings) -> None:
        self._redis = client
        self._keys = RedisKeys(settings.redis.key_prefix)
        self._topic = settings.topics.interactions
        self._windows = check_windows(
            settings.popularity.windows_days, settings.popularity.max_window_days
        )
        self._keep_hours = HOURS_PER_DAY * settings.popularity.max_window_days
        self._long_view_ms = settings.events.long_view_ms
        self._layout = TrendingLayout(
            self._keys, TypeRegistry(settings.events.type_weights), self._windows
        )
        self._erase = client.register_script(scripts().erase.source)
        self._publish = client.register_script(scripts().publish.source)

    def _types(self, event: CountedEvent) -> list[str]:
        """The worker's effective types: `long_view` derived from the dwell time."""
        types = list(dict.fromkeys(event.types))
        duration = event.duration_ms
        if duration is not None and duration >= self._long_view_ms and LONG_VIEW not in types:
            types.append(LONG_VIEW)
        return types

    def subtract(self, events: Iterable[CountedEvent], now_ms: int) -> SubtractResult:
        by_feature: dict[str, list[bytes]] = {}
        for event in events:
            blob = _EVENT.pack(
                hour_of(event.event_ms), event.event_id, event.partition, event.offset
            )
            blob += ",".join(self._types(event)).encode() + b"\0"
            by_feature.setdefault(event.feature_id, []).append(blob)
        result = SubtractResult()
        params = f"{now_ms} {self._keep_hours} {self._topic} " + " ".join(map(str, self._windows))
        features = sorted(by_feature)
        for start in range(0, len(features), _FEATURES_PER_ROUND):
            chunk = features[start : start + _FEATURES_PER_ROUND]
            pipe = self._redis.pipeline(transaction=False)
            for feature_id in chunk:
                keys = [
                    *self._keys.feature_keys(feature_id)[:3],
                    self._keys.feature_erased(feature_id),
                    self._keys.feature_dropped(feature_id),
                ]
                self._erase(keys=keys, args=[params, b"".join(by_feature[feature_id])], client=pipe)
            replies = pipe.execute()
            lines: list[str] = []
            set_index: dict[str, int] = {}
            for feature_id, (subtracted, due, flat, offsets, not_counted) in zip(
                chunk, replies, strict=True
            ):
                result.features += 1
                result.not_counted += int(not_counted)
                if not int(subtracted):
                    continue
                result.events += int(subtracted)
                result.features_touched.append(feature_id)
                counts = {_bytes(flat[k]): int(flat[k + 1]) for k in range(0, len(flat), 2)}
                scores = self._layout.scores(counts)
                for offset in offsets:
                    topic, _, partition = _text(offset)[len(OFFSET_PREFIX) :].rpartition(FIELD_SEP)
                    due_key = self._keys.due_index(topic, int(partition))
                    scores[due_key] = str(int(due)) if int(due) >= 0 else REMOVE
                for key, score in scores.items():
                    index = set_index.setdefault(key, len(set_index) + 1)
                    lines.append(f"{index}\t{score}\t{feature_id}")
            if lines:
                self._publish(keys=list(set_index), args=["\n".join(lines)])
                result.trending_updates += len(lines)
        return result


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
