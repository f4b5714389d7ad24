"""Forgetting a user across both stores: ClickHouse rows and Redis history.

This lives above `sinks` and `stream_processors` because it touches both; neither store's
package knows of the other. Popularity counts are aggregates without user ids and stay.

When producers hash user ids (USER_ID_HMAC_KEY), the id given here is hashed the same way
before matching; rejected messages are raw and possibly unhashed, so they are matched on both.
"""

from __future__ import annotations

from typing import Any, Protocol

from schemas.privacy import UserIdHasher
from sinks import ClickHouseBackend, DeletionReport, delete_user_rows
from stream_processors.keys import RedisKeys


class RedisDeleter(Protocol):
    """The part of a redis client forget-user needs (redis.Redis fits)."""

    def delete(self, *names: str) -> Any: ...

    def exists(self, *names: str) -> Any: ...


def forget_user(
    backend: ClickHouseBackend,
    user_id: str,
    *,
    hasher: UserIdHasher,
    redis: RedisDeleter | None = None,
    redis_keys: RedisKeys | None = None,
    physical: bool = False,
) -> DeletionReport:
    """Delete every row of the user in ClickHouse, and their Redis keys when a client is given."""
    stored = hasher(user_id)
    report = DeletionReport(matched_id=stored, hashed=hasher.enabled)
    report.rows_deleted = delete_user_rows(backend, stored, raw_id=user_id, physical=physical)
    if redis is not None and redis_keys is not None:
        # History is written under the id as stored; an unhashed copy is removed too.
        keys = list(dict.fromkeys(redis_keys.user_keys(stored) + redis_keys.user_keys(user_id)))
        present = [k for k in keys if redis.exists(k)]
        if present:
            redis.delete(*present)
        report.redis_keys_deleted = present
    return report
