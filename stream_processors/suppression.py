"""The tombstone store in Redis, and each process's cached view of it (`TombstoneSource`).

Why Redis, and why a cache: every event the worker and the sink handle is checked, so the
check must be a dict lookup in memory. The store is one hash (`RedisKeys.tombstones`) and a
version counter moved in the same atomic step; a process re-reads the hash only when the
version changed, and checks the version every `ERASURE_REFRESH_S` (one GET, off the per-event
path). A deletion must not erase while a consumer could still write with an older view, so
consumers acknowledge (`ack`) the version every batch they wrote since was filtered with, and
the deletion waits for every live consumer's acknowledgement (`pending_consumers`).

When Redis does not answer, the view is kept. Producers and the collector keep accepting
(collecting needs only Kafka); a consumer built with `max_stale_s` keeps writing with its last
view for that long and then raises `RedisUnavailableError`, which the sink treats like a
ClickHouse outage (pause, retry). A deletion stops waiting for a consumer whose last
acknowledgement is older than `max_stale_s` plus a margin: by then that consumer has stopped
writing, so nothing it writes afterwards can have been filtered with an old view.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import redis

from schemas.errors import RedisUnavailableError
from schemas.suppression import (
    Range,
    Tombstones,
    decode_ranges,
    encode_ranges,
    subject_digest,
)
from stream_processors._scripts import scripts
from stream_processors.keys import RedisKeys

log = logging.getLogger("stream_processors.suppression")

ACK_MARGIN_S: Final = 10.0
"""A consumer silent for max_stale_s + this long is taken as stopped by a waiting deletion."""
_DROPPED_SEP: Final = "|"


def consumer_name(component: str) -> str:
    """One name per process: what its acknowledgements are filed under."""
    return f"{component}:{socket.gethostname()}:{os.getpid()}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_tombstones(version: int, raw: Mapping[Any, Any]) -> Tombstones:
    """The hash as stored (`subject -> "<created_ms>;<ranges>"`) as a snapshot."""
    by_subject: dict[str, tuple[Range, ...]] = {}
    for subject, value in raw.items():
        _, _, ranges = _text(value).partition(";")
        by_subject[_text(subject)] = tuple(dict.fromkeys(decode_ranges(ranges)))
    return Tombstones(version, by_subject)


class RedisTombstones:
    """Writes tombstones (the erasure) and serves a cached `Tombstones` view (every part).

    `component` names the process in acknowledgements and drop counts (`worker`, `sink`,
    `collector`); `max_stale_s=None` never raises (producers).
    """

    def __init__(
        self,
        client: redis.Redis[Any],
        keys: RedisKeys,
        *,
        component: str,
        refresh_s: float = 1.0,
        max_stale_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._keys = keys
        self.component = component
        self.name = consumer_name(component)
        self._refresh_s = refresh_s
        self._max_stale_s = max_stale_s
        self._clock = clock
        self._snapshot = Tombstones()
        self._checked_at = -float("inf")
        self._fresh_at = clock()
        self._loaded = False
        self._acked = -1
        self._acked_written = -1
        self._tombstone = client.register_script(scripts().tombstone.source)

    # -- the view (hot path: a time comparison unless a refresh is due) -------------------
    def current(self) -> Tombstones:
        now = self._clock()
        if now - self._checked_at >= self._refresh_s:
            self._checked_at = now
            self._refresh(now)
        if self._max_stale_s is not None and (
            not self._loaded or now - self._fresh_at > self._max_stale_s
        ):
            raise RedisUnavailableError(
                f"tombstones not refreshed for {now - self._fresh_at:.0f} s (Redis does not "
                "answer): not writing events that could belong to a forgotten user"
            )
        return self._snapshot

    def load(self) -> Tombstones:
        """Read the store now (at start: before the first batch); raises when Redis fails."""
        self._checked_at = self._clock()
        self._refresh(self._checked_at, strict=True)
        return self._snapshot

    def _refresh(self, now: float, *, strict: bool = False) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self._keys.tombstone_version())
            if self._max_stale_s is not None and self._acked >= 0:
                pipe.hset(self._keys.tombstone_acks(), self.name, self._ack_value())
            version = int(pipe.execute()[0] or 0)
            if self._acked >= 0:
                self._acked_written = self._acked
            if version != self._snapshot.version or not self._loaded:
                pipe = self._redis.pipeline(transaction=True)
                pipe.get(self._keys.tombstone_version())
                pipe.hgetall(self._keys.tombstones())
                raw_version, raw = pipe.execute()
                self._snapshot = parse_tombstones(int(raw_version or 0), raw)
                self._loaded = True
            self._fresh_at = now
        except redis.RedisError as exc:
            if strict:
                raise RedisUnavailableError(f"Redis does not answer: {exc}") from exc
            log.warning("tombstones not refreshed (keeping version %d): %s", self.version, exc)

    @property
    def version(self) -> int:
        return self._snapshot.version

    @property
    def acked(self) -> int:
        return self._acked

    # -- acknowledgements and counts -----------------------------------------------------
    def _ack_value(self) -> str:
        return f"{self._acked} {int(time.time() * 1000)}"

    def ack(self, version: int) -> None:
        """Everything this process wrote since was filtered with >= `version`; a higher
        version is written at once (a deletion waits for it), the same one with the next
        refresh (a heartbeat)."""
        if version <= self._acked:
            return
        self._acked = version
        if version > self._acked_written:
            try:
                self._redis.hset(self._keys.tombstone_acks(), self.name, self._ack_value())
                self._acked_written = version
            except redis.RedisError as exc:
                log.warning("tombstone acknowledgement not written: %s", exc)

    def retire(self) -> None:
        """A consumer stopping cleanly: a deletion need not wait for it any more."""
        try:
            self._redis.hdel(self._keys.tombstone_acks(), self.name)
        except redis.RedisError as exc:
            log.warning("tombstone acknowledgement not removed: %s", exc)

    def count_dropped(self, counts: Mapping[str, int]) -> None:
        """Per subject (by digest), events dropped, for the deletion's receipt; never their
        content or ids."""
        if not counts:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for subject, n in counts.items():
                field = f"{subject_digest(subject)}{_DROPPED_SEP}{self.component}"
                pipe.hincrby(self._keys.suppressed_counts(), field, n)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("suppressed-event counts not written: %s", exc)

    # -- the erasure's side --------------------------------------------------------------
    def add(self, tombstones: Mapping[str, Range], *, now_ms: int, keep_ms: int) -> int:
        """Record tombstones (merged with a subject's earlier ones); returns the new version."""
        args: list[Any] = [now_ms, keep_ms]
        for subject, rng in tombstones.items():
            args += [subject, encode_ranges([rng])]
        keys = [self._keys.tombstones(), self._keys.tombstone_version()]
        return int(self._tombstone(keys=keys, args=args))

    def pending_consumers(self, version: int, *, stale_after_s: float) -> list[str]:
        """Consumers that wrote recently and have not acknowledged `version` yet."""
        now_ms = int(time.time() * 1000)
        pending = []
        for name, value in self._redis.hgetall(self._keys.tombstone_acks()).items():
            acked, _, at = _text(value).partition(" ")
            if now_ms - int(at or 0) > stale_after_s * 1000:
                if now_ms - int(at or 0) > 86_400_000:  # a process long gone
                    self._redis.hdel(self._keys.tombstone_acks(), name)
                continue
            if int(acked) < version:
                pending.append(_text(name))
        return sorted(pending)

    def dropped_since(self, digests: Iterable[str]) -> dict[str, int]:
        """Events dropped per component for these subjects (by digest, summed)."""
        wanted = set(digests)
        totals: dict[str, int] = {}
        for field, value in self._redis.hgetall(self._keys.suppressed_counts()).items():
            subject, _, component = _text(field).rpartition(_DROPPED_SEP)
            if subject in wanted:
                totals[component] = totals.get(component, 0) + int(value)
        return totals
