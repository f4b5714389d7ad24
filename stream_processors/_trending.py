"""A feature's trending scores from its window counts: one rule for the worker and the erasure.

The worker publishes them after every batch and sweep (stream_processors._store); an erasure
that subtracted a forgotten user's events publishes them too (stream_processors.erasure), so
both write the same absolute values for the same counts.
"""

from __future__ import annotations

from typing import Final

from schemas.interaction_types import TypeRegistry
from stream_processors.keys import FIELD_SEP, RedisKeys

REMOVE: Final = "0"
"""A score of 0 removes the member (publish.lua)."""


class TrendingLayout:
    """Window field (`<days>:<type>`) -> trending set, weight; cached per field."""

    __slots__ = ("_fields", "_keys", "_registry", "_trending_keys", "weighted", "windows")

    def __init__(self, keys: RedisKeys, registry: TypeRegistry, windows: tuple[int, ...]) -> None:
        self._keys = keys
        self._registry = registry
        self.windows = windows
        self._trending_keys: dict[tuple[int, str | None], str] = {}
        self._fields: dict[bytes, tuple[int, str, float] | None] = {}
        self.weighted = {days: keys.trending(days, None) for days in windows}

    def trending_key(self, days: int, interaction_type: str | None) -> str:
        key = self._trending_keys.get((days, interaction_type))
        if key is None:
            key = self._trending_keys[(days, interaction_type)] = self._keys.trending(
                days, interaction_type
            )
        return key

    def field(self, field: bytes) -> tuple[int, str, float] | None:
        """(days, trending key, weight or 0 for negative types) of a window field; None for
        a window no longer in the settings."""
        try:
            return self._fields[field]
        except KeyError:
            pass
        days_text, _, interaction_type = field.decode().partition(FIELD_SEP)
        days = int(days_text)
        info: tuple[int, str, float] | None = None
        if days in self.weighted:
            kind = self._registry.get(interaction_type)
            weight = 0.0 if kind.is_negative else kind.weight
            info = (days, self.trending_key(days, interaction_type), weight)
        self._fields[field] = info
        return info

    def scores(self, counts: dict[bytes, int]) -> dict[str, str]:
        """Trending set key -> the feature's score there (`REMOVE` when not positive)."""
        scores: dict[str, str] = {}
        weighted = dict.fromkeys(self.windows, 0.0)
        for field, count in counts.items():
            info = self.field(field)
            if info is None:
                continue
            days, key, weight = info
            scores[key] = str(count) if count > 0 else REMOVE
            if count > 0:
                weighted[days] += weight * count
        for days, total in weighted.items():
            scores[self.weighted[days]] = repr(total) if total > 0 else REMOVE
        return scores
