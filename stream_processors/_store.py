"""The worker's Redis write side: apply a planned batch, sweep aged buckets, publish trending.

Two pipelined round trips per batch:

1. one EVALSHA of apply.lua per (feature, partition) and one of history.lua per user. The
   apply script is where exactly-once happens (see its header and the README);
2. the absolute window counts those scripts return, written to the trending sets, and each
   feature's next sweep time to its partition's due index (one publish.lua call). Absolute
   values make this step idempotent: if the worker dies between 1 and 2, the redelivered batch
   is skipped by the watermark in step 1 but the scripts still return the current counts, and
   step 2 writes them. Only values that changed since this process last wrote them are sent;
   that memory is updated only once a write has succeeded.

No Faust here: the agent calls `apply`; tests call it directly with an injected clock.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from schemas.interaction_types import TypeRegistry
from schemas.redis_keys import FIELD_SEP, RedisKeys, offset_field
from schemas.settings import Settings
from stream_processors._plan import Plan
from stream_processors._scripts import Script, scripts
from stream_processors._windows import HOURS_PER_DAY, Clock, check_windows, now_ms

_PUBLISHED_CACHE_MAX: Final = 50_000
"""Features whose last published scores are remembered (to send only changes); then reset."""
_DUE_BATCH: Final = 500
_DUE_ROUNDS: Final = 200
"""At most this many due batches per partition and sweep call; the next call goes on."""
_EVENT: Final = struct.Struct(">qi16s")
"""offset, hour bucket, event_id; followed by the comma-separated types and a zero byte."""
_REMOVE: Final = "0"


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    replayed: int = 0
    duplicates: int = 0
    features: int = 0


class SharedSetWrites:
    """One batch's writes to the shared sets, as publish.lua lines (key index, score, member),
    and each feature's full set of values, remembered once the write has succeeded."""

    __slots__ = ("keys", "lines", "snapshots")

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.lines: list[str] = []
        self.snapshots: dict[str, dict[str, str]] = {}

    def set(self, key: str, member: str, score: str) -> None:
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.keys) + 1
        self.lines.append(f"{index}\t{score}\t{member}")


def _events_blob(events: list[tuple[int, bytes, int, list[str]]]) -> bytes:
    pack = _EVENT.pack
    return b"".join(
        pack(offset, hour, event_id) + ",".join(types).encode() + b"\0"
        for offset, event_id, hour, types in events
    )


class PopularityStore:
    """Applies batches and sweeps for one worker; `redis` must not decode responses."""

    def __init__(self, client: aioredis.Redis[Any], settings: Settings, *, clock: Clock) -> None:
        self._redis = client
        self._keys = RedisKeys(settings.redis_key_prefix)
        self._clock = clock
        self._windows = check_windows(settings.popularity_windows_days, settings.max_window_days)
        self._keep_hours = HOURS_PER_DAY * settings.max_window_days
        self._dedupe_ms = settings.dedupe_window_s * 1000
        self._history_ms = settings.history_days * 86_400_000
        self._registry = TypeRegistry(settings.type_weights)
        self._scripts = scripts()
        self._published: dict[str, dict[str, str]] = {}
        self._trending_keys: dict[tuple[int, str | None], str] = {}

    async def load_scripts(self) -> None:
        for script in self._scripts.all:
            await self._redis.script_load(script.source)  # type: ignore[no-untyped-call]

    def forget_published(self) -> None:
        """After a rebalance another worker may have written our features' trending scores."""
        self._published.clear()

    def _window_args(self, now: int) -> list[int]:
        return [now, self._keep_hours, len(self._windows), *self._windows]

    # -- batches ---------------------------------------------------------------------------
    async def apply(self, plan: Plan) -> ApplyResult:
        """Apply one batch (both steps); safe to call again with the same plan."""
        result, changes = await self.run_scripts(plan)
        await self.publish(changes)
        return result

    async def run_scripts(self, plan: Plan) -> tuple[ApplyResult, SharedSetWrites]:
        """Step 1: counts, watermarks and history; returns what step 2 must write."""
        base = self._window_args(plan.now_ms)
        calls: list[tuple[Script, list[str], list[Any]]] = []
        owners: list[tuple[str, str, int]] = []
        for (feature_id, topic, partition), feature in plan.features.items():
            args = [
                *base,
                offset_field(topic, partition),
                self._dedupe_ms,
                _events_blob(feature.events),
            ]
            calls.append((self._scripts.apply, self._keys.feature_keys(feature_id), args))
            owners.append((feature_id, topic, partition))
        cutoff = plan.now_ms - self._history_ms
        for user_id, members in plan.history.items():
            entries = "\n".join(f"{score}\t{member}" for member, score in members.items())
            calls.append(
                (
                    self._scripts.history,
                    [self._keys.user_history(user_id)],
                    [cutoff, self._history_ms, entries],
                )
            )
        replies = await self._run(calls)
        result = ApplyResult(features=len(owners))
        changes = SharedSetWrites()
        for (feature_id, topic, partition), reply in zip(owners, replies, strict=False):
            due, applied, replayed, duplicates, counts = reply
            result.applied += applied
            result.replayed += replayed
            result.duplicates += duplicates
            self._collect(changes, feature_id, topic, partition, int(due), counts)
        return result, changes

    async def _run(self, calls: list[tuple[Script, list[str], list[Any]]]) -> list[Any]:
        """EVALSHA everything in one pipeline; load scripts and redo it all after NOSCRIPT."""
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
            errors = [r for r in replies if isinstance(r, Exception)]
            if not errors:
                return list(replies)
            if attempt == 1 and all(isinstance(e, NoScriptError) for e in errors):
                await self.load_scripts()
                continue
            raise errors[0]
        raise ResponseError("unreachable")  # pragma: no cover

    # -- trending and due index ------------------------------------------------------------
    def _trending_key(self, days: int, interaction_type: str | None) -> str:
        key = self._trending_keys.get((days, interaction_type))
        if key is None:
            key = self._trending_keys[(days, interaction_type)] = self._keys.trending(
                days, interaction_type
            )
        return key

    def _collect(
        self,
        changes: SharedSetWrites,
        feature_id: str,
        topic: str,
        partition: int,
        due: int,
        flat_counts: list[bytes],
    ) -> None:
        """Queue the feature's absolute scores that differ from what was last published."""
        current: dict[str, str] = {}
        weighted: dict[int, float] = dict.fromkeys(self._windows, 0.0)
        for k in range(0, len(flat_counts), 2):
            days_text, _, interaction_type = flat_counts[k].decode().partition(FIELD_SEP)
            days, count = int(days_text), int(flat_counts[k + 1])
            if days not in weighted:
                continue  # a window no longer in the settings
            key = self._trending_key(days, interaction_type)
            current[key] = str(count) if count > 0 else _REMOVE
            kind = self._registry.get(interaction_type)
            if count > 0 and not kind.is_negative:
                weighted[days] += kind.weight * count
        for days, total in weighted.items():
            current[self._trending_key(days, None)] = repr(total) if total > 0 else _REMOVE
        current[self._keys.due_index(topic, partition)] = str(due) if due >= 0 else _REMOVE
        previous = self._published.get(feature_id, {})
        for key, score in current.items():
            if previous.get(key) != score:
                changes.set(key, feature_id, score)
        changes.snapshots[feature_id] = current

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
        now = now_ms(self._clock)
        base = self._window_args(now)
        swept = 0
        for partition in partitions:
            due_key = self._keys.due_index(topic, partition)
            for _ in range(_DUE_ROUNDS):
                raw = await self._redis.zrangebyscore(due_key, "-inf", now, start=0, num=_DUE_BATCH)
                if not raw:
                    break
                feature_ids = [f.decode() for f in raw]
                calls = [
                    (self._scripts.sweep, self._keys.feature_keys(fid)[:3], list(base))
                    for fid in feature_ids
                ]
                replies = await self._run(calls)
                changes = SharedSetWrites()
                for fid, (due, _, _, _, counts) in zip(feature_ids, replies, strict=True):
                    self._published.pop(fid, None)  # the due entry must be rewritten
                    self._collect(changes, fid, topic, partition, int(due), counts)
                await self.publish(changes)
                swept += len(feature_ids)
                if len(raw) < _DUE_BATCH:
                    break
        return swept
