"""The read side rerankers call: counts, boost, trending and history, straight from Redis.

Imports no Faust, opens no connection of its own: it takes a synchronous `redis.Redis` (with
or without `decode_responses`) and the settings. A precomputed window costs one HMGET per
distinct candidate, all in one read-only Lua call (on Redis Cluster, where the features' keys
span slots, pipelined HMGETs instead): one round trip in all. The sums carry the hour bucket
they start at (`lo:<days>`) and when their next bucket ages out (`due`): before that time
they are exact for any later window start. Otherwise (the worker's sweeper is behind, or
this reader's clock differs from the worker's) the difference is read from the hour buckets in
a second round trip, so counts are exact for the reader's own clock either way. Windows that
are not precomputed are summed from the hour buckets by a read-only Lua script: one call per
candidate, costing O(buckets in the window), at most 24 x days x types.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import redis

from schemas.errors import InvalidArgumentError, RedisUnavailableError
from schemas.interaction_types import TypeRegistry, is_valid_type_name
from schemas.settings import Settings
from stream_processors._scripts import scripts
from stream_processors._windows import (
    Clock,
    check_windows,
    hour_of,
    now_ms,
    system_clock,
    window_start_hour,
)
from stream_processors.boost import BoostConfig, check_score, rerank
from stream_processors.keys import (
    DUE_FIELD,
    RedisKeys,
    lo_field,
    split_history_member,
    sum_field,
)
from stream_processors.models import BoostedCandidate, HistoryItem, TrendingItem

P = ParamSpec("P")
R = TypeVar("R")

_DAY_MS = 86_400_000
_KEYS_PER_CALL = 1_000
"""Features per read_states.lua call: bounds how long one call holds Redis (~0.5 ms)."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _still_exact(lo: int, due: Any, start: int, now: int) -> bool:
    """Sums starting at `lo` are exact for a later window start until `due` (ms): no bucket
    lies between the two before then (-1: no bucket will ever age out)."""
    if due is None or lo > start:
        return False
    due_ms = int(due)
    return due_ms < 0 or now < due_ms


def _redis_errors_translated(method: Callable[P, R]) -> Callable[P, R]:
    """Callers see RedisUnavailableError, never redis-py's own connection errors."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise RedisUnavailableError(f"Redis does not answer: {exc}") from exc

    return call


class PopularityReader:
    """Counts, boosts, trending and per-user history for rerankers and retrievers.

    Bad arguments raise `InvalidArgumentError`, Redis failures `RedisUnavailableError`.
    """

    def __init__(
        self, redis_client: redis.Redis[Any], settings: Settings, *, clock: Clock = system_clock
    ) -> None:
        self._redis = redis_client
        self._keys = RedisKeys(settings.redis.key_prefix)
        self._precomputed = check_windows(
            settings.popularity.windows_days, settings.popularity.max_window_days
        )
        self._windows = settings.popularity
        self._history_days = settings.popularity.history_days
        self._types = TypeRegistry(settings.events.type_weights)
        self._clock = clock
        self._range = redis_client.register_script(scripts().range.source)
        self._read_states = redis_client.register_script(scripts().read_states.source)
        # Keys of many features span cluster slots: one script cannot read them there.
        self._one_call = not isinstance(redis_client, redis.RedisCluster)

    @property
    def precomputed_windows(self) -> tuple[int, ...]:
        return self._precomputed

    # -- counts ----------------------------------------------------------------------------
    @_redis_errors_translated
    def counts(
        self,
        feature_ids: Iterable[str],
        types: Sequence[str] | None = None,
        window_days: int | None = None,
    ) -> dict[str, dict[str, int]]:
        """Count per type in the window for each feature; None types: every type seen.

        With explicit types every requested type is present (0 when none); with None only
        types with a count above zero are.
        """
        days = self._window(window_days)
        wanted = self._check_types(types)
        unique = list(dict.fromkeys(feature_ids))
        if not unique:
            return {}
        now = now_ms(self._clock)
        start = window_start_hour(hour_of(now), days)
        if days in self._precomputed:
            result = self._precomputed_counts(unique, wanted, days, start, now)
        else:
            result = self._bucket_counts(unique, wanted, start)
        if wanted is None:
            return {fid: {t: c for t, c in by_type.items() if c} for fid, by_type in result.items()}
        return result

    def _precomputed_counts(
        self, feature_ids: list[str], types: list[str] | None, days: int, start: int, now: int
    ) -> dict[str, dict[str, int]]:
        fields = [lo_field(days), DUE_FIELD] + [sum_field(days, t) for t in types or ()]
        state_keys = [self._keys.feature_state(fid) for fid in feature_ids]
        if types is not None and self._one_call:
            replies: list[Any] = []
            for k in range(0, len(state_keys), _KEYS_PER_CALL):
                part = state_keys[k : k + _KEYS_PER_CALL]
                replies.extend(self._read_states(keys=part, args=fields))
        else:
            pipe = self._redis.pipeline(transaction=False)
            for key in state_keys:
                if types is None:
                    pipe.hgetall(key)
                else:
                    pipe.hmget(key, fields)
            replies = pipe.execute()
        result: dict[str, dict[str, int]] = {}
        stale: list[tuple[str, int]] = []
        for fid, reply in zip(feature_ids, replies, strict=True):
            if types is None:
                lo, due, by_type = self._parse_all(reply, days)
            else:
                lo, due = reply[0], reply[1]
                by_type = {t: _int(v) for t, v in zip(types, reply[2:], strict=True)}
            result[fid] = by_type
            if lo is not None and int(lo) != start and not _still_exact(int(lo), due, start, now):
                stale.append((fid, int(lo)))
        if stale:
            self._correct(result, stale, types, start)
        return result

    @staticmethod
    def _parse_all(reply: Mapping[Any, Any], days: int) -> tuple[Any, Any, dict[str, int]]:
        prefix = sum_field(days, "")
        lo = due = None
        by_type: dict[str, int] = {}
        for raw_field, value in reply.items():
            name = _text(raw_field)
            if name == lo_field(days):
                lo = value
            elif name == DUE_FIELD:
                due = value
            elif name.startswith(prefix):
                by_type[name[len(prefix) :]] = _int(value)
        return lo, due, by_type

    def _correct(
        self,
        result: dict[str, dict[str, int]],
        stale: list[tuple[str, int]],
        types: list[str] | None,
        start: int,
    ) -> None:
        """Sums start at the worker's `lo`; move them to this reader's window start."""
        pipe = self._redis.pipeline(transaction=False)
        for fid, lo in stale:
            low, high = min(lo, start), max(lo, start)
            self._range_call(pipe, fid, low, high, types)
        for (fid, lo), reply in zip(stale, pipe.execute(), strict=True):
            sign = -1 if lo < start else 1
            by_type = result[fid]
            for t, c in self._parse_range(reply).items():
                by_type[t] = by_type.get(t, 0) + sign * c

    def _bucket_counts(
        self, feature_ids: list[str], types: list[str] | None, start: int
    ) -> dict[str, dict[str, int]]:
        pipe = self._redis.pipeline(transaction=False)
        for fid in feature_ids:
            self._range_call(pipe, fid, start, None, types)
        result: dict[str, dict[str, int]] = {}
        for fid, reply in zip(feature_ids, pipe.execute(), strict=True):
            found = self._parse_range(reply)
            result[fid] = found if types is None else {t: found.get(t, 0) for t in types}
        return result

    def _range_call(
        self,
        pipe: redis.client.Pipeline[Any],
        feature_id: str,
        from_hour: int,
        to_hour: int | None,
        types: list[str] | None,
    ) -> None:
        keys = [self._keys.feature_buckets(feature_id), self._keys.feature_bucket_index(feature_id)]
        args = [from_hour, "+inf" if to_hour is None else to_hour, *(types or ())]
        self._range(keys=keys, args=args, client=pipe)

    @staticmethod
    def _parse_range(reply: list[Any]) -> dict[str, int]:
        return {_text(reply[k]): int(reply[k + 1]) for k in range(0, len(reply), 2)}

    # -- boost -----------------------------------------------------------------------------
    @_redis_errors_translated
    def boost(
        self,
        candidates: Sequence[tuple[str, float]],
        config: BoostConfig | Mapping[str, Any] | None = None,
    ) -> list[BoostedCandidate]:
        """Candidates re-ranked by boosted score (formula in stream_processors.boost).

        Highest boosted score first; equal scores keep their input order.
        """
        cfg = (
            config if isinstance(config, BoostConfig) else BoostConfig.model_validate(config or {})
        )
        for index, (_, score) in enumerate(candidates):
            check_score(index, score)  # before any Redis work
        types = cfg.interaction_types
        counts = self.counts([fid for fid, _ in candidates], types, cfg.time_window_days)
        return rerank(candidates, counts, self._types.weights(types), cfg)

    # -- trending --------------------------------------------------------------------------
    @_redis_errors_translated
    def trending(
        self, interaction_type: str | None = None, window_days: int | None = None, n: int = 10
    ) -> list[TrendingItem]:
        """Top `n` features by count of one type (None: by weighted score) in the window."""
        days = self._window(window_days)
        if days not in self._precomputed:
            raise InvalidArgumentError(
                f"window_days: trending is kept for {list(self._precomputed)} days, got {days}"
            )
        if interaction_type is not None:
            self._check_types([interaction_type])
        if n < 1:
            raise InvalidArgumentError(f"n: must be >= 1, got {n}")
        key = self._keys.trending(days, interaction_type)
        rows = self._redis.zrevrange(key, 0, n - 1, withscores=True)
        return [TrendingItem(rank, _text(m), float(s)) for rank, (m, s) in enumerate(rows, 1)]

    # -- history ---------------------------------------------------------------------------
    @_redis_errors_translated
    def history(
        self,
        user_id: str,
        types: Sequence[str] | None = None,
        days: int | None = None,
        limit: int | None = None,
    ) -> list[HistoryItem]:
        """What a user interacted with, newest first: one item per (type, feature).

        `user_id` is used as given (pass the HMAC when producers hash user ids). Anonymous
        ids linked to the user by identify are merged in (the latest time per entry wins), so
        what a visitor did before logging in counts as theirs.
        """
        horizon = self._history_days if days is None else days
        if not 1 <= horizon <= self._history_days:
            raise InvalidArgumentError(
                f"days: must be between 1 and {self._history_days}, got {days}"
            )
        if limit is not None and limit < 1:
            raise InvalidArgumentError(f"limit: must be >= 1, got {limit}")
        wanted = self._check_types(types)
        cutoff = now_ms(self._clock) - horizon * _DAY_MS
        key = self._keys.user_history(user_id)
        linked = self._redis.smembers(self._keys.user_anonymous_ids(user_id))
        page = limit if wanted is None and not linked else None
        rows = self._redis.zrevrangebyscore(
            key, "+inf", cutoff, withscores=True, start=0 if page else None, num=page
        )
        if linked:
            latest: dict[str, float] = {}
            keys = [key] + [self._keys.anonymous_history(_text(a)) for a in sorted(linked)]
            for other in keys:
                for member, score in self._redis.zrevrangebyscore(
                    other, "+inf", cutoff, withscores=True
                ):
                    name = _text(member)
                    latest[name] = max(score, latest.get(name, score))
            rows = sorted(latest.items(), key=lambda item: -item[1])
        items: list[HistoryItem] = []
        for member, score in rows:
            interaction_type, feature_id = split_history_member(_text(member))
            if wanted is not None and interaction_type not in wanted:
                continue
            when = datetime.fromtimestamp(score / 1000, UTC)
            items.append(HistoryItem(feature_id, interaction_type, when))
            if limit is not None and len(items) >= limit:
                break
        return items

    # -- arguments -------------------------------------------------------------------------
    def _window(self, window_days: int | None) -> int:
        return self._windows.resolve_window(window_days)

    @staticmethod
    def _check_types(types: Sequence[str] | None) -> list[str] | None:
        if types is None:
            return None
        if isinstance(types, str):
            types = [types]
        if not types:
            raise InvalidArgumentError("types: must name at least one interaction type")
        for name in types:
            if not is_valid_type_name(name):
                raise InvalidArgumentError(f"types: {name!r} is not a lower-case identifier")
        return list(dict.fromkeys(types))
