"""The erasure, step by step, in the order that makes it impossible for a race to undo it.

1. **Tombstones** for the user and every linked anonymous id (or `*` for a purge) over the
   event-time range (default: everything up to the request), in Redis, version bumped.
2. **Wait for the consumers**: every worker and sink process acknowledges the version once
   everything it writes is filtered with it (`stream_processors.suppression`); a consumer
   silent for `ERASURE_MAX_STALE_S` + 10 s is not waited for (it has stopped writing).
   From here on nothing of the user in that range reaches ClickHouse or Redis again.
3. **Counts**: exactly the events the worker counted are subtracted, each event_id once,
   atomically per feature (erase.lua). Why exactly, in three steps:

   a. *The worker's set is final.* The worker counts an event of the user only with a view
      older than the tombstone, so only before it acknowledged it; after step 2 it counts
      none (it drops them, and what it drops it marks first: `P:f:{ID}:d`).
   b. *Candidates cover it.* Each counted copy has a Kafka position below the end of the
      topic read after step 2 (the worker read it before acknowledging). A copy below the
      position the sink's group had committed *before* step 1 was handled by the sink with an
      older view, so it is a stored row (or was removed by an earlier erasure that already
      subtracted it). Every other one lies between that position and the end, and is read
      from Kafka (`_inflight`). Candidates = stored rows + that range, for the person.
   c. *The test per copy is the worker's own record.* A copy was counted exactly when its
      offset is at or below the feature's watermark for its partition (the worker goes
      through a partition in order and moves the watermark in the same Lua step as the
      counts) and its position is not marked dropped (marks are written before the batch
      that moves the watermark past them). A copy above the watermark is not read yet; the
      worker will drop it (a). erase.lua records each subtracted event_id, so retries and
      copies that are both stored and in the range subtract once.

   So the counts end equal to a recount of the events that remain, whichever consumer saw
   an in-flight event first, and whether the consumers were running, lagging or stopped.
4. **Rows**: a lightweight DELETE (or `physical`) in both event tables (and rejected
   messages naming the user, for a full forget).
5. **History**: entries inside the range go; an entry whose latest event went is set back to
   the latest remaining event, or removed.
6. **Links** (full forget): the user's anonymous ids are unlinked.
7. **Log**: the receipt, without ids, is appended to the deletion log.

Every step is idempotent, so a failed or repeated request is simply run again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import redis

from interaction_pipeline.erasure._inflight import Positions, sink_positions, unstored_events
from interaction_pipeline.erasure._jobs import DeletionJob, JobStore
from schemas.errors import InvalidArgumentError
from schemas.privacy import UserIdHasher
from schemas.settings import Settings
from schemas.suppression import (
    EVERYONE,
    MIN_MS,
    Range,
    anonymous_subject,
    subject_digest,
    user_subject,
)
from sinks import (
    ClickHouseBackend,
    RowMatch,
    counted_events,
    delete_matching,
    delete_user_rows,
    latest_per_member,
    people_in,
)
from sinks.ddl import REJECTS_TABLE
from stream_processors.erasure import CountedEvent, PopularityEraser
from stream_processors.identity import IdentityLinks
from stream_processors.keys import HOUR_MS, RedisKeys
from stream_processors.suppression import ACK_MARGIN_S, RedisTombstones

log = logging.getLogger("interaction_pipeline.erasure")

_POLL_S: Final = 0.1
_DAY_MS: Final = 86_400_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@dataclass(slots=True)
class ErasureOutcome:
    """A finished job plus what only the caller may see (ids, key names): the fields of the
    seed-era DELETE response."""

    job: DeletionJob
    matched_id: str = ""
    hashed: bool = False
    redis_keys_deleted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        job = self.job
        return {
            "matched_id": self.matched_id,
            "hashed": self.hashed,
            "rows_deleted": job.clickhouse_rows,
            "rows_total": job.rows_total,
            "redis_keys_deleted": self.redis_keys_deleted,
            "job_id": job.job_id,
            "state": job.state,
        }


class Erasure:
    """Runs deletions; `client` is a synchronous Redis client (decoded or not)."""

    def __init__(
        self,
        settings: Settings,
        backend: ClickHouseBackend,
        client: redis.Redis[Any],
        *,
        hasher: UserIdHasher | None = None,
        physical: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._redis = client
        self._keys = RedisKeys(settings.redis.key_prefix)
        self._hasher = hasher or settings.privacy.hasher
        self._physical = physical
        self._sleep = sleep
        self.tombstones = RedisTombstones(client, self._keys, component="erasure")
        self.links = IdentityLinks(client, self._keys)
        self.jobs = JobStore(client, self._keys)
        self._eraser = PopularityEraser(client, settings)
        self._stale_after_s = settings.erasure.max_stale_s + ACK_MARGIN_S

    # -- requests ----------------------------------------------------------------------------
    def forget_user(
        self,
        user_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        on_created: Callable[[DeletionJob], None] | None = None,
    ) -> ErasureOutcome:
        """Forget one person: everything up to now, or only events in [since, until]."""
        stored = self._hasher(user_id)
        now = _now_ms()
        since_ms, until_ms = self._range(since, until, now)
        job = DeletionJob(
            kind="user",
            subject=_digest(stored),
            since_ms=since_ms,
            until_ms=until_ms,
            requested_at_ms=now,
        )
        self.jobs.save(job)
        if on_created is not None:
            on_created(job)
        outcome = ErasureOutcome(job, matched_id=stored, hashed=self._hasher.enabled)
        return self._guarded(outcome, lambda: self._forget(outcome, user_id, stored))

    def purge(
        self,
        since: datetime,
        until: datetime,
        *,
        on_created: Callable[[DeletionJob], None] | None = None,
    ) -> ErasureOutcome:
        """Everyone's events in [since, until] (e.g. PII sent by mistake in one hour)."""
        now = _now_ms()
        since_ms, until_ms = self._range(since, until, now)
        job = DeletionJob(
            kind="purge",
            subject=EVERYONE,
            since_ms=since_ms,
            until_ms=until_ms,
            requested_at_ms=now,
        )
        self.jobs.save(job)
        if on_created is not None:
            on_created(job)
        outcome = ErasureOutcome(job, matched_id=EVERYONE)
        return self._guarded(outcome, lambda: self._purge(outcome))

    def receipt(self, job_id: str) -> dict[str, Any] | None:
        """The job's receipt with the events dropped since its tombstones, per component."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        receipt = job.to_json()
        receipt["suppressed_since"] = self.tombstones.dropped_since(job.subjects)
        return receipt

    @staticmethod
    def _range(since: datetime | None, until: datetime | None, now: int) -> tuple[int | None, int]:
        since_ms, until_ms = _ms(since), _ms(until)
        if until_ms is None or until_ms > now:
            until_ms = now  # events from after the request may be a new account's
        if since_ms is not None and since_ms > until_ms:
            raise InvalidArgumentError("since: must not be after until (or after now)")
        return since_ms, until_ms

    def _guarded(self, outcome: ErasureOutcome, work: Callable[[], None]) -> ErasureOutcome:
        job = outcome.job
        try:
            work()
            job.state = "done"
        except Exception as exc:
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            job.finished_at_ms = _now_ms()
            self.jobs.save(job)
            self.jobs.log(job)
        return outcome

    # -- the steps -------------------------------------------------------------------------
    def _forget(self, outcome: ErasureOutcome, raw_id: str, stored: str) -> None:
        job = outcome.job
        anonymous = self.links.anonymous_ids(stored)
        subjects = [user_subject(stored), *(anonymous_subject(a) for a in anonymous)]
        match = RowMatch(stored, tuple(anonymous), job.since_ms, job.until_ms)
        start = sink_positions(self._settings)  # before the tombstones: see step 3b
        self._suppress(job, subjects)
        self._subtract(job, match, start)
        people = {self._keys.user_history(stored): RowMatch(stored)}
        people.update({self._keys.anonymous_history(a): RowMatch(None, (a,)) for a in anonymous})
        job.clickhouse_rows = delete_matching(self._backend, match, physical=self._physical)
        if job.since_ms is None:
            rows = delete_user_rows(self._backend, stored, raw_id=raw_id, physical=self._physical)
            job.clickhouse_rows[REJECTS_TABLE] = rows.get(REJECTS_TABLE, 0)
        if raw_id != stored:  # history written before hashing was configured
            people.setdefault(self._keys.user_history(raw_id), RowMatch(raw_id))
        outcome.redis_keys_deleted = self._repair_histories(job, people)
        if job.since_ms is None:
            job.anonymous_ids_forgotten = len(self.links.forget(stored))

    def _purge(self, outcome: ErasureOutcome) -> None:
        job = outcome.job
        match = RowMatch(None, (), job.since_ms, job.until_ms)
        start = sink_positions(self._settings)
        self._suppress(job, [EVERYONE])
        self._subtract(job, match, start)
        people: dict[str, RowMatch] = {}
        for user, anon in people_in(self._backend, match):
            if user:
                people[self._keys.user_history(user)] = RowMatch(user)
            elif anon:
                people[self._keys.anonymous_history(anon)] = RowMatch(None, (anon,))
        job.clickhouse_rows = delete_matching(self._backend, match, physical=self._physical)
        outcome.redis_keys_deleted = self._repair_histories(job, people)

    def _suppress(self, job: DeletionJob, subjects: list[str]) -> None:
        """Steps 1 and 2: tombstones, then wait until every live consumer filters with them."""
        job.subjects = [subject_digest(s) for s in subjects]
        rng = Range(MIN_MS if job.since_ms is None else job.since_ms, job.until_ms)
        keep_ms = self._settings.erasure.tombstone_days * _DAY_MS
        job.tombstone_version = self.tombstones.add(
            dict.fromkeys(subjects, rng), now_ms=_now_ms(), keep_ms=keep_ms
        )
        job.state = "waiting_for_consumers"
        self.jobs.save(job)
        deadline = time.monotonic() + self._stale_after_s + 5.0
        while True:
            pending = self.tombstones.pending_consumers(
                job.tombstone_version, stale_after_s=self._stale_after_s
            )
            if pending != job.pending_consumers:
                job.pending_consumers = pending
                self.jobs.save(job)
            if not pending or time.monotonic() > deadline:
                break
            self._sleep(_POLL_S)
        job.state = "erasing"
        self.jobs.save(job)

    def _subtract(self, job: DeletionJob, match: RowMatch, start: Positions) -> None:
        """Step 3: take what the worker counted out of the counts, each event exactly once."""
        keep_hours = 24 * self._settings.popularity.max_window_days
        counted = []
        for row in counted_events(self._backend, match):
            event_ms = _ms(row["event_time"]) or 0
            stored_ms = _ms(row["stored_at"]) or event_ms
            if event_ms // HOUR_MS < stored_ms // HOUR_MS - keep_hours:
                continue  # too old for every window when it arrived: the worker skipped it
            counted.append(
                CountedEvent(
                    str(row["feature_id"]),
                    event_ms,
                    _uuid_bytes(row["event_id"]),
                    tuple(row["types"]),
                    None if row["dwell_ms"] is None else int(row["dwell_ms"]),
                    int(row["partition"]),
                    int(row["offset"]),
                )
            )
        in_flight = unstored_events(self._settings, start, match)
        result = self._eraser.subtract([*counted, *in_flight], _now_ms())
        job.counts_subtracted = {
            "events": result.events,
            "features": len(result.features_touched),
            "trending_updates": result.trending_updates,
            "in_flight": len(in_flight),
            "not_counted": result.not_counted,
        }
        self.jobs.save(job)

    def _repair_histories(self, job: DeletionJob, people: dict[str, RowMatch]) -> list[str]:
        """Step 5: history entries whose latest event was erased go back to the latest event
        left, or go; returns the keys that no longer exist."""
        since = "-inf" if job.since_ms is None else job.since_ms
        horizon = _now_ms() - self._settings.popularity.history_days * _DAY_MS
        long_view_ms = self._settings.events.long_view_ms
        deleted: list[str] = []
        for key, person in people.items():
            existed = bool(self._redis.exists(key))
            members = [_text(m) for m in self._redis.zrangebyscore(key, since, job.until_ms)]
            if members:
                remaining = latest_per_member(
                    self._backend,
                    RowMatch(person.user_id, person.anonymous_ids, horizon),
                    long_view_ms,
                )
                pipe = self._redis.pipeline(transaction=False)
                for member in members:
                    if member in remaining:
                        pipe.zadd(key, {member: remaining[member]}, xx=True)
                    else:
                        pipe.zrem(key, member)
                        job.history_entries_removed += 1
                pipe.execute()
            if existed and not self._redis.exists(key):
                deleted.append(key)
        job.redis_keys_deleted = len(deleted)
        return deleted


def _digest(stored_id: str) -> str:
    return hashlib.sha256(stored_id.encode()).hexdigest()[:32]


def _uuid_bytes(value: Any) -> bytes:
    import uuid

    return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
