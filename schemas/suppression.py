"""Suppression: which events of forgotten users every part must drop (the tombstone contract).

Forgetting a user records a *tombstone*: the id as stored (its HMAC when ids are hashed) and
the event-time range it covers, by default everything up to the moment of the request.
Every part that writes or accepts events checks it: the sink and the popularity worker drop a
covered event, the collector and the SDK refuse one (`SuppressedUserError`). Events of the same
id with a later event time are *not* covered: the id may be reused by a new account, and a
tombstone that blocked an id forever would also keep a personal identifier forever.

Subjects are `u:<user id>` and `a:<anonymous id>` (a linked anonymous id is forgotten with its
user), and `*` for a purge of everyone's events in a time range. This module is pure: the
durable store (a Redis hash, `stream_processors.suppression`) lives with the Redis key layout,
and is handed to each part by the edge as a `TombstoneSource`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

EVERYONE: Final = "*"
"""Subject of a purge: every event whose time falls in the range."""
USER_PREFIX: Final = "u:"
ANONYMOUS_PREFIX: Final = "a:"
MIN_MS: Final = -(2**62)
"""`since` of a tombstone that covers everything before `until`."""


def subject_digest(subject: str) -> str:
    """What counts and logs name a subject by: no id, raw or hashed, is kept beside them."""
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


def user_subject(stored_id: str) -> str:
    return USER_PREFIX + stored_id


def anonymous_subject(stored_id: str) -> str:
    return ANONYMOUS_PREFIX + stored_id


@dataclass(frozen=True, slots=True)
class Range:
    """Event times `since_ms <= t <= until_ms` (epoch ms, both inclusive)."""

    since_ms: int
    until_ms: int

    def covers(self, event_ms: int) -> bool:
        return self.since_ms <= event_ms <= self.until_ms

    def encode(self) -> str:
        return f"{self.since_ms}:{self.until_ms}"

    @classmethod
    def decode(cls, text: str) -> Range:
        since, _, until = text.partition(":")
        return cls(int(since), int(until))


def encode_ranges(ranges: Iterable[Range]) -> str:
    """A subject's ranges as stored: `since:until,since:until`."""
    return ",".join(r.encode() for r in ranges)


def decode_ranges(text: str) -> tuple[Range, ...]:
    return tuple(Range.decode(part) for part in text.split(",") if part)


@dataclass(frozen=True, slots=True)
class Tombstones:
    """An immutable snapshot of every tombstone, as one version of the store.

    `covers` is on the hot path of the worker and the sink: with no tombstone it is one
    truth test, otherwise one or two dict lookups per event.
    """

    version: int = 0
    by_subject: Mapping[str, tuple[Range, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_subject)

    @property
    def everyone(self) -> tuple[Range, ...]:
        return self.by_subject.get(EVERYONE, ())

    def covers(self, user_id: str | None, anonymous_id: str | None, event_ms: int) -> bool:
        """Whether an event with these (stored) ids at `event_ms` must be dropped."""
        subjects = self.by_subject
        for key in (
            EVERYONE,
            None if user_id is None else USER_PREFIX + user_id,
            None if anonymous_id is None else ANONYMOUS_PREFIX + anonymous_id,
        ):
            if key is not None:
                ranges = subjects.get(key)
                if ranges and any(r.covers(event_ms) for r in ranges):
                    return True
        return False

    def subject_of(
        self, user_id: str | None, anonymous_id: str | None, event_ms: int
    ) -> str | None:
        """The subject whose tombstone covers the event (for per-subject counts), or None."""
        for key in (
            None if user_id is None else USER_PREFIX + user_id,
            None if anonymous_id is None else ANONYMOUS_PREFIX + anonymous_id,
            EVERYONE,
        ):
            if key is not None and any(r.covers(event_ms) for r in self.by_subject.get(key, ())):
                return key
        return None


NO_TOMBSTONES: Final = Tombstones()


class TombstoneSource(Protocol):
    """What the sink, the worker and the producers are given: the current tombstones.

    `current()` returns a snapshot at most a refresh interval old; consumers call `ack` once
    everything they wrote was filtered with at least that version (the deletion waits for it).
    """

    def current(self) -> Tombstones: ...

    def load(self) -> Tombstones:
        """Read the store now (before a consumer's first batch); raises when it fails."""
        ...

    def ack(self, version: int) -> None: ...

    def count_dropped(self, counts: Mapping[str, int]) -> None: ...

    def retire(self) -> None:
        """Stopping cleanly: no deletion waits for this process's acknowledgement."""
        ...
