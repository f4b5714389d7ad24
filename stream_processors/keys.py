"""The Redis key layout: the one place that names every key and field the pipeline uses.

The popularity worker writes these keys and rerankers read them, possibly from other languages,
so the layout is a contract (documented in the README, "Redis key layout"). With prefix `P`:

- `P:f:{ID}:s` hash, one feature's state:
  `<days>:<type>` its rolling count in a precomputed window,
  `lo:<days>` the oldest hour bucket that count includes,
  `o:<topic>:<partition>` the last Kafka offset of that partition applied to it,
  `due` when (ms) its next hour bucket ages out of a window (-1: none will): until then the
  counts are exact for a window starting anywhere from `lo:<days>` on, so readers skip the
  bucket correction; `erased` set by an erasure until the worker next applies a batch.
- `P:f:{ID}:b` hash: `<hour>:<type>` events of that type in that hour bucket
  (hour = epoch seconds // 3600, UTC).
- `P:f:{ID}:i` zset: member `<hour>:<type>` (a field of `:b`), score `<hour>`.
- `P:f:{ID}:e` zset: member event_id (its 16 raw UUID bytes), score: when applied (ms).
- `P:u:{UID}:h` zset: member `<type>:<feature_id>`, score: latest event time (ms).
- `P:{P}:t:<days>:<type>` zset, trending: member feature_id, score its count in the window.
- `P:{P}:t:<days>:_weighted` zset, trending by weighted score (positive types' weight x
  count).
- `P:{P}:due:<topic>:<partition>` zset: member feature_id, score: when (ms) its next hour
  bucket ages out of a window (drives the sweeper; no SCAN anywhere).
- `P:f:{ID}:x` zset: member event_id (16 raw bytes) whose counts an erasure subtracted,
  score: its hour bucket (a retried erasure subtracts nothing twice).
- `P:f:{ID}:d` zset: member `<partition>:<offset>`, the interactions topic's position of an
  event the worker dropped for a tombstone (never counted), score: its hour bucket; an
  erasure reads it with the `o:` watermarks to tell counted events from dropped ones.
- `P:a:{AID}:h` zset: history of an anonymous id (events without a user_id), as `P:u:{UID}:h`.
- `P:u:{UID}:a` set: the anonymous ids linked to the user by identify.
- `P:{P}:id:anon` hash: anonymous id -> user id it was linked to.
- `P:{P}:gdpr:tomb` hash: tombstones, subject (`u:<id>`, `a:<id>`, `*`) -> event-time ranges
  `since:until,...` (ms) that every consumer drops (schemas.suppression);
  `P:{P}:gdpr:ver` its version (INCR on every change, so consumers re-read only then);
  `P:{P}:gdpr:acks` hash, consumer -> `<version> <ms>`: the tombstone version everything it
  wrote since was filtered with, and when it said so;
  `P:{P}:gdpr:dropped` hash, `<subject>|<component>` -> events dropped since the tombstone.
- `P:{P}:gdpr:jobs` hash: deletion job id -> its receipt (JSON, no raw ids);
  `P:{P}:gdpr:log` stream: one entry per finished deletion, for auditors.

`ID` and `UID` are the feature and user ids with `%`, `{` and `}` percent-encoded (`%25`,
`%7B`, `%7D`), so the text between the braces is a Redis Cluster hash tag: the four keys of one
feature always share a slot, and each atomic update (one Lua script per feature and batch)
stays inside that slot. Trending sets and due indexes share the tag `{P}` (one slot, updated
by one script per batch); a user's history is one key, written on its own. The erasure
bookkeeping (tombstones, acks, jobs, log) shares the tag `{P}` too, so a tombstone and its
version change in one atomic step.
"""

from __future__ import annotations

import re
from typing import Final

FIELD_SEP: Final = ":"
"""Separates the parts of a field or member name; interaction types never contain it."""
LO_PREFIX: Final = "lo:"
OFFSET_PREFIX: Final = "o:"
DUE_FIELD: Final = "due"
ERASED_FIELD: Final = "erased"
"""Field of `P:f:{ID}:s` set by an erasure that subtracted counts; the worker's next apply
clears it and rewrites every trending score of the feature."""
WEIGHTED: Final = "_weighted"
"""Trending set name for the weighted score; interaction types start with a letter, so no clash."""
HOUR_MS: Final = 3_600_000
"""Width of one bucket: counts are kept per hour of event time."""

_PREFIX_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def encode_id(value: str) -> str:
    """An id as it appears inside a key: `%`, `{`, `}` percent-encoded, everything else as is."""
    return value.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def decode_id(value: str) -> str:
    return value.replace("%7D", "}").replace("%7B", "{").replace("%25", "%")


def sum_field(window_days: int, interaction_type: str) -> str:
    """Field of `P:f:{ID}:s` with the count of one type in one precomputed window."""
    return f"{window_days}{FIELD_SEP}{interaction_type}"


def lo_field(window_days: int) -> str:
    """Field of `P:f:{ID}:s`: the oldest hour bucket included in that window's counts."""
    return f"{LO_PREFIX}{window_days}"


def offset_field(topic: str, partition: int) -> str:
    """Field of `P:f:{ID}:s`: the last Kafka offset of that partition applied to this feature."""
    return f"{OFFSET_PREFIX}{topic}{FIELD_SEP}{partition}"


def bucket_field(hour: int, interaction_type: str) -> str:
    """Field of `P:f:{ID}:b` (and member of `P:f:{ID}:i`)."""
    return f"{hour}{FIELD_SEP}{interaction_type}"


def history_member(interaction_type: str, feature_id: str) -> str:
    """Member of a user's history set; split it at the first `:`."""
    return f"{interaction_type}{FIELD_SEP}{feature_id}"


def split_history_member(member: str) -> tuple[str, str]:
    """(interaction_type, feature_id) of a history member."""
    interaction_type, _, feature_id = member.partition(FIELD_SEP)
    return interaction_type, feature_id


class RedisKeys:
    """Key names under one prefix (`RedisKeys(settings.redis.key_prefix)`)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"redis_key_prefix: must match {_PREFIX_RE.pattern}, got {prefix!r}")
        self.prefix = prefix

    # -- one feature: four keys in one cluster slot ----------------------------------------
    def _feature(self, feature_id: str, kind: str) -> str:
        return f"{self.prefix}:f:{{{encode_id(feature_id)}}}:{kind}"

    def feature_state(self, feature_id: str) -> str:
        return self._feature(feature_id, "s")

    def feature_buckets(self, feature_id: str) -> str:
        return self._feature(feature_id, "b")

    def feature_bucket_index(self, feature_id: str) -> str:
        return self._feature(feature_id, "i")

    def feature_event_ids(self, feature_id: str) -> str:
        return self._feature(feature_id, "e")

    def feature_erased(self, feature_id: str) -> str:
        return self._feature(feature_id, "x")

    def feature_dropped(self, feature_id: str) -> str:
        return self._feature(feature_id, "d")

    def feature_keys(self, feature_id: str) -> list[str]:
        """State, buckets, bucket index, event ids: the KEYS of the worker's Lua scripts."""
        return [
            self.feature_state(feature_id),
            self.feature_buckets(feature_id),
            self.feature_bucket_index(feature_id),
            self.feature_event_ids(feature_id),
        ]

    # -- one user --------------------------------------------------------------------------
    def user_history(self, user_id: str) -> str:
        return f"{self.prefix}:u:{{{encode_id(user_id)}}}:h"

    def user_anonymous_ids(self, user_id: str) -> str:
        return f"{self.prefix}:u:{{{encode_id(user_id)}}}:a"

    def user_keys(self, user_id: str) -> list[str]:
        """Every key that holds data about this user's events (GDPR forget-user deletes these;
        the identify links, `user_anonymous_ids`, go at the end of the erasure)."""
        return [self.user_history(user_id)]

    def anonymous_history(self, anonymous_id: str) -> str:
        return f"{self.prefix}:a:{{{encode_id(anonymous_id)}}}:h"

    def anonymous_links(self) -> str:
        """Hash anonymous id -> the user id it was linked to (identify)."""
        return self._shared("id:anon")

    # -- shared sets -----------------------------------------------------------------------
    def _shared(self, kind: str) -> str:
        return f"{self.prefix}:{{{self.prefix}}}:{kind}"

    def trending(self, window_days: int, interaction_type: str | None) -> str:
        """Trending set of one type, or of the weighted score when the type is None."""
        return self._shared(f"t:{window_days}:{interaction_type or WEIGHTED}")

    def due_index(self, topic: str, partition: int) -> str:
        """When each feature of that partition next needs a sweep (see stream_processors)."""
        return self._shared(f"due:{topic}:{partition}")

    # -- erasure (GDPR) --------------------------------------------------------------------
    def tombstones(self) -> str:
        return self._shared("gdpr:tomb")

    def tombstone_version(self) -> str:
        return self._shared("gdpr:ver")

    def tombstone_acks(self) -> str:
        return self._shared("gdpr:acks")

    def suppressed_counts(self) -> str:
        return self._shared("gdpr:dropped")

    def deletion_jobs(self) -> str:
        return self._shared("gdpr:jobs")

    def deletion_log(self) -> str:
        return self._shared("gdpr:log")
