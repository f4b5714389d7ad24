"""The worker's Redis write side: apply a planned batch, sweep aged buckets, publish trending.

Two pipelined round trips per batch:

1. apply.lua for the (feature, partition) groups and history.lua for the users, many per
   EVALSHA (one cluster slot per call, `_grouping.py`). The apply script is where
   exactly-once happens, per feature (see its header and the README);
2. the absolute window counts those scripts return, written to the trending sets, and each
   feature's next sweep time to its partition's due index (one publish.lua call). Absolute
   values make this step idempotent: if the worker dies between 1 and 2, the redelivered batch
   is skipped by the watermark in step 1 but the scripts still return the current counts, and
   step 2 writes them. Only values that changed since this process last wrote them are sent;
   that memory is updated only once a write has succeeded.

Per-feature cost is what limits a worker whose batches touch many features, so the scripts
return only the counts they changed while this process remembers the feature's other values
(it asks for every count when it does not), and every Redis call runs without a per-reply
timer (one timeout per round trip instead, `REDIS_TIMEOUT_S`).

No Faust here: the agent calls `apply`; tests call it directly with an injected clock.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from stream_processors._grouping import call_groups
from stream_processors._plan import FeatureEvents, Plan
from stream_processors._scripts import EXPIRY_SLACK_MS, Script, scripts
from stream_processors._trending import REMOVE, TrendingLayout
from stream_processors._windows import HOURS_PER_DAY, Clock, check_windows, now_ms
from stream_processors.connection import ReplicasBehindError, ScriptsMissingError, is_cluster
from stream_processors.keys import FIELD_SEP, HOUR_MS, RedisKeys, offset_field

_PUBLISHED_CACHE_MAX: Final = 50_000
"""Features whose last published scores are remembered (to send only changes); then reset."""
_DUE_BATCH: Final = 500
_DUE_ROUNDS: Final = 200
"""At most this many due batches per partition and sweep call; the next call goes on."""
_EVENT: Final = struct.Struct(">qi16s")
"""offset, hour bucket, event_id; followed by the comma-separated types and a zero byte."""
_FEATURE: Final = struct.Struct(">BH")
"""Before a feature's events: full (1: send every count), position of its offset field."""
APPLY_MAX_FEATURES: Final = 200
APPLY_MAX_EVENTS: Final = 5_000
"""Most (feature, partition) groups and events per apply.lua call: Redis runs one script at a
time, so a call is kept to a few milliseconds, and the per-call cost is spread thin by then."""
HISTORY_MAX_USERS: Final = 500
"""Most users per history.lua call."""
_RESET: Final = 2
"""apply.lua's `is_full` when an erasure changed the feature since the worker last saw it."""
_DUE_UNCHANGED: Final = -2
"""apply.lua's next-due time when it cannot have changed since its last reply."""
REDIS_TIMEOUT_S: Final = 30.0
"""Longest wait for one round trip; the worker's client has no per-reply socket timeout."""

T = TypeVar("T")


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    replayed: int = 0
    duplicates: int = 0
    features: int = 0


@dataclass(slots=True)
class Published:
    """What this process last wrote to the shared sets for one feature, and from what."""

    counts: dict[bytes, int]
    """Window field (`<days>:<type>`) -> count."""
    due: int
    scores: dict[str, str]
    """Shared set key -> score written."""


class SharedSetWrites:
    """One batch's writes to the shared sets, as publish.lua lines (key index, score, member),
    and each feature's values, remembered once the write has succeeded."""

    __slots__ = ("keys", "lines", "snapshots")

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.lines: list[str] = []
        self.snapshots: dict[str, Published] = {}

    def set(self, key: str, member: str, score: str) -> None:
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.keys) + 1
        self.lines.append(f"{index}\t{score}\t{member}")


def _feature_arg(
    full: bool, field_at: int, events: list[tuple[int, bytes, int, list[str]]]
) -> bytes:
    """One feature's ARGV entry of apply.lua: its header, then its events."""
    pack = _EVENT.pack
    return _FEATURE.pack(full, field_at) + b"".join(
        [
            pack(offset, hour, event_id) + ",".join(types).encode() + b"\0"
            for offset, event_id, hour, types in events
        ]
    )


class PopularityStore:
    """Applies batches and sweeps for one worker; `redis` must not decode responses."""

    def __init__(self, client: aioredis.Redis[Any], settings: Settings, *, clock: Clock) -> None:
        self._redis = client
        self._keys = RedisKeys(settings.redis.key_prefix)
        self._clock = clock
        self._windows = check_windows(
            settings.popularity.windows_days, settings.popularity.max_window_days
        )
        self._keep_hours = HOURS_PER_DAY * settings.popularity.max_window_days
        self._dedupe_ms = settings.popularity.dedupe_window_s * 1000
        self._history_ms = settings.popularity.history_days * 86_400_000
        self._registry = TypeRegistry(settings.events.type_weights)
        self._scripts = scripts()
        self._published: dict[str, Published] = {}
        self._forget = False
        self._layout = TrendingLayout(self._keys, self._registry, self._windows)
        self._due_keys: dict[tuple[str, int], str] = {}
        self._wait_replicas = settings.redis.wait_replicas
        self._wait_ms = int(settings.redis.wait_timeout_s * 1000)

    async def load_scripts(self) -> None:
        for script in self._scripts.all:
            await self._timed(self._redis.script_load(script.source))  # type: ignore[no-untyped-call]

    def forget_published(self) -> None:
        """After a rebalance another worker may have written our features' trending scores.

        Takes effect when the next batch or sweep starts, so that one batch asks for full
        counts and merges replies against the same memory."""
        self._forget = True

    def _start(self) -> None:
        if self._forget:
            self._forget = False
            self._published.clear()

    @staticmethod
    async def _timed(work: Awaitable[T]) -> T:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            return await work

    def _window_args(self, now: int) -> list[int]:
        return [now, self._keep_hours, len(self._windows), *self._windows]

    def _apply_params(self, now: int) -> str:
        days = " ".join(map(str, self._windows))
        return f"{now} {self._keep_hours} {self._dedupe_ms} {days}"

    # -- batches ---------------------------------------------------------------------------
    async def apply(self, plan: Plan) -> ApplyResult:
        """Apply one batch (both steps); safe to call again with the same plan."""
        await self.mark_dropped(plan)
        result, changes = await self.run_scripts(plan)
        await self.publish(changes)
        return result

    async def mark_dropped(self, plan: Plan) -> None:
        """Before the batch's counts: the positions of events dropped for a tombstone, per
        feature (an erasure subtracts only events below the watermark and not marked here).
        One round trip, and only for a batch that dropped something."""
        if not plan.dropped:
            return
        ttl = (self._keep_hours + 1) * HOUR_MS + EXPIRY_SLACK_MS
        calls: list[tuple[Script, list[str], list[Any]]] = []
        for feature_id, positions in plan.dropped.items():
            args: list[Any] = [ttl]
            for partition, offset, hour in positions:
                args += [hour, f"{partition}{FIELD_SEP}{offset}"]
            calls.append((self._scripts.drop, [self._keys.feature_dropped(feature_id)], args))
        await self._run(calls)

    async def run_scripts(self, plan: Plan) -> tuple[ApplyResult, SharedSetWrites]:
        """Step 1: counts, watermarks and history; returns what step 2 must write."""
        self._start()
        calls, groups = self._apply_calls(plan.now_ms, list(plan.features.values()))
        applies = len(calls)
        calls += self._history_calls(plan)
        replies = await self._run(calls)
        per_group = [reply for call in replies[:applies] for reply in call]
        result = ApplyResult(features=len(groups))
        changes = SharedSetWrites()
        for feature, reply in zip(groups, per_group, strict=True):
            due, applied, replayed, duplicates, full_reply, counts = reply
            result.applied += applied
            result.replayed += replayed
            result.duplicates += duplicates
            self._collect(
                changes,
                feature.feature_id,
                feature.topic,
                feature.partition,
                int(due),
                counts,
                bool(full_reply),
                reset=full_reply == _RESET,
            )
        return result, changes

    def _apply_calls(
        self, now: int, groups: list[FeatureEvents]
    ) -> tuple[list[tuple[Script, list[str], list[Any]]], list[FeatureEvents]]:
        """apply.lua calls for these groups, and the groups in the order of the calls'
        replies: on a cluster a call holds one slot's groups, so that order is not the
        batch's (two groups of one feature share a slot and keep their batch order)."""
        keys = [self._keys.feature_keys(g.feature_id) for g in groups]
        params = self._apply_params(now)
        calls: list[tuple[Script, list[str], list[Any]]] = []
        replied: list[FeatureEvents] = []
        for members in call_groups(
            [k[0] for k in keys],
            [len(g.events) for g in groups],
            cluster=is_cluster(self._redis),
            max_items=APPLY_MAX_FEATURES,
            max_size=APPLY_MAX_EVENTS,
        ):
            fields: dict[str, int] = {}
            call_keys: list[str] = []
            args: list[Any] = [params, ""]
            for i in members:
                group = groups[i]
                replied.append(group)
                field = offset_field(group.topic, group.partition)
                at = fields.setdefault(field, len(fields) + 1)
                call_keys += keys[i]
                full = group.feature_id not in self._published
                args.append(_feature_arg(full, at, group.events))
            args[1] = " ".join(fields)
            calls.append((self._scripts.apply, call_keys, args))
        return calls, replied

    def _history_calls(self, plan: Plan) -> list[tuple[Script, list[str], list[Any]]]:
        cutoff = plan.now_ms - self._history_ms
        histories = [(self._keys.user_history(u), m) for u, m in plan.history.items()]
        histories += [
            (self._keys.anonymous_history(a), m) for a, m in plan.anonymous_history.items()
        ]
        calls: list[tuple[Script, list[str], list[Any]]] = []
        for members in call_groups(
            [key for key, _ in histories],
            [len(m) for _, m in histories],
            cluster=is_cluster(self._redis),
            max_items=HISTORY_MAX_USERS,
            max_size=APPLY_MAX_EVENTS,
        ):
            args: list[Any] = [cutoff, self._history_ms]
            for i in members:
                entries = histories[i][1].items()
                args.append("\n".join(f"{score}\t{member}" for member, score in entries))
            calls.append((self._scripts.history, [histories[i][0] for i in members], args))
        return calls

    async def _run(self, calls: list[tuple[Script, list[str], list[Any]]]) -> list[Any]:
        """EVALSHA everything in one pipeline; load scripts and redo it all after NOSCRIPT."""
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            self._queue_waits(pipe)
            replies = await self._timed(pipe.execute(raise_on_error=False))
            errors = [r for r in replies if isinstance(r, Exception)]
            if not errors:
                self._check_replicas(replies[len(calls) :])
                return list(replies[: len(calls)])
            others = [e for e in errors if not isinstance(e, NoScriptError)]
            if others:  # e.g. a cluster in failover: raised as such, so the batch is retried
                raise others[0]
            if attempt == 1:
                await self.load_scripts()
                continue
            if is_cluster(self._redis):
                # A replica promoted between the load and the call: its cache is empty.
                raise ScriptsMissingError(f"scripts missing on a master after loading: {errors[0]}")
            raise errors[0]
        raise ResponseError("unreachable")  # pragma: no cover

    def _queue_waits(self, pipe: Any) -> int:
        """One WAIT per master after the writes, on the pipeline's connection to it (WAIT
        covers that connection's writes), so a batch is acked only once a replica holds it
        and a failover cannot lose it (REDIS_WAIT_REPLICAS; 0: no WAIT)."""
        if not self._wait_replicas:
            return 0
        client: Any = self._redis
        nodes: list[Any] = client.get_primaries() if is_cluster(client) else [None]
        for node in nodes:
            target = {} if node is None else {"target_nodes": node}
            pipe.execute_command("WAIT", self._wait_replicas, self._wait_ms, **target)
        return len(nodes)

    def _check_replicas(self, acked: list[Any]) -> None:
        if any(int(n) < self._wait_replicas for n in acked):
            raise ReplicasBehindError(
                f"WAIT: replicas acknowledged {list(map(int, acked))} per master, "
                f"{self._wait_replicas} wanted; retrying the batch"
            )

    # -- trending and due index ------------------------------------------------------------
    def _due_key(self, topic: str, partition: int) -> str:
        key = self._due_keys.get((topic, partition))
        if key is None:
            key = self._due_keys[(topic, partition)] = self._keys.due_index(topic, partition)
        return key

    def _collect(
        self,
        changes: SharedSetWrites,
        feature_id: str,
        topic: str,
        partition: int,
        due: int,
        flat_counts: list[Any],
        full: bool,
        reset: bool = False,
    ) -> None:
        """Queue the feature's absolute scores that differ from what was last published.

        A partial reply (`full` false) holds only the counts the script changed; the others,
        and an unchanged due time, come from the feature's last values: those of this batch
        (one feature on two partitions) or those this process published. `reset`: an
        erasure changed the counts since, so every score is written again."""
        previous = changes.snapshots.get(feature_id) or self._published.get(feature_id)
        if full or previous is None:
            if not full:
                raise RuntimeError(f"partial counts for {feature_id!r} without earlier values")
            counts: dict[bytes, int] = {}
        else:
            counts = previous.counts.copy()
        for k in range(0, len(flat_counts), 2):
            counts[flat_counts[k]] = int(flat_counts[k + 1])
        if due == _DUE_UNCHANGED:
            if previous is None:
                raise RuntimeError(f"no earlier due time for {feature_id!r}")
            due = previous.due
        scores = self._layout.scores(counts)
        scores[self._due_key(topic, partition)] = str(due) if due >= 0 else REMOVE
        before = previous.scores if previous is not None and not reset else {}
        for key, score in scores.items():
            if before.get(key) != score:
                changes.set(key, feature_id, score)
        changes.snapshots[feature_id] = Published(counts, due, scores)

    async def publish(self, changes: SharedSetWrites) -> None:
        """Step 2: write changed trending scores and due times; safe to repeat."""
        if changes.lines:
            keys = list(changes.keys)
            await self._run([(self._scripts.publish, keys, ["\n".join(changes.lines)])])
        if len(self._published) + len(changes.snapshots) > _PUBLISHED_CACHE_MAX:
            self._published.clear()
        self._published.update(changes.snapshots)

    # -- sweeping --------------------------------------------------------------------------
    async def sweep_due(self, topic: str, partitions: Iterable[int]) -> int:
        """Sweep every feature of these partitions whose next bucket has aged out; no SCAN."""
        self._start()
        now = now_ms(self._clock)
        base = self._window_args(now)
        swept = 0
        for partition in partitions:
            due_key = self._keys.due_index(topic, partition)
            for _ in range(_DUE_ROUNDS):
                raw = await self._timed(
                    self._redis.zrangebyscore(due_key, "-inf", now, start=0, num=_DUE_BATCH)
                )
                if not raw:
                    break
                feature_ids = [f.decode() for f in raw]
                calls = [
                    (self._scripts.sweep, self._keys.feature_keys(fid)[:3], list(base))
                    for fid in feature_ids
                ]
                replies = await self._run(calls)
                changes = SharedSetWrites()
                for fid, (due, _, _, _, _, counts) in zip(feature_ids, replies, strict=True):
                    self._published.pop(fid, None)  # the due entry must be rewritten
                    self._collect(changes, fid, topic, partition, int(due), counts, True)
                await self.publish(changes)
                swept += len(feature_ids)
                if len(raw) < _DUE_BATCH:
                    break
        return swept
