"""GDPR deletion: one interaction by id, or every trace of one user.

ClickHouse rows go with a lightweight `DELETE` (invisible to every query at once, gone from
disk at the next merge of their parts) or, with `physical=True`, with a synchronous
mutation that rewrites the parts before returning. The user's Redis keys (their history) are
deleted by name from the key layout in schemas.redis_keys; popularity counts are aggregates
without user ids and stay.

When producers hash user ids (USER_ID_HMAC_KEY), the id given here is hashed the same way
before matching. Rejected messages are raw, unvalidated and possibly unhashed, so
`sink_rejects` rows are matched on both the given and the hashed id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from schemas.clickhouse_ddl import (
    COL_EVENT_ID,
    COL_PAYLOAD,
    COL_USER_ID,
    EVENT_TABLES,
    REJECTS_TABLE,
)
from schemas.privacy import hash_user_id
from schemas.redis_keys import RedisKeys
from sinks._backend import ClickHouseBackend, Params


class RedisDeleter(Protocol):
    """The part of a redis client forget-user needs (redis.Redis fits)."""

    def delete(self, *names: str) -> Any: ...

    def exists(self, *names: str) -> Any: ...


@dataclass(slots=True)
class DeletionReport:
    """What was removed: rows per table, Redis keys, and the id as it was matched."""

    matched_id: str
    hashed: bool = False
    rows_deleted: dict[str, int] = field(default_factory=dict)
    redis_keys_deleted: list[str] = field(default_factory=list)

    @property
    def rows_total(self) -> int:
        return sum(self.rows_deleted.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "matched_id": self.matched_id,
            "hashed": self.hashed,
            "rows_deleted": self.rows_deleted,
            "rows_total": self.rows_total,
            "redis_keys_deleted": self.redis_keys_deleted,
        }


def _delete_where(
    backend: ClickHouseBackend, table: str, where: str, params: Params, *, physical: bool
) -> int:
    count = int(backend.query(f"SELECT count() AS n FROM {table} WHERE {where}", params)[0]["n"])
    if count:
        if physical:
            backend.command(
                f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 2", params
            )
        else:
            backend.command(f"DELETE FROM {table} WHERE {where}", params)
    return count


def delete_interaction(
    backend: ClickHouseBackend, event_id: UUID | str, *, physical: bool = False
) -> DeletionReport:
    """The seed's `DELETE /v1/retrievers/interactions/<interaction_id>` (event_id).

    Looks in both event tables, so a search event can be removed by its id too.
    """
    event_id = UUID(str(event_id))
    report = DeletionReport(matched_id=str(event_id))
    for table in EVENT_TABLES:
        report.rows_deleted[table] = _delete_where(
            backend,
            table,
            f"{COL_EVENT_ID} = {{id:UUID}}",
            {"id": str(event_id)},
            physical=physical,
        )
    return report


def forget_user(
    backend: ClickHouseBackend,
    user_id: str,
    *,
    hmac_key: str | None = None,
    redis: RedisDeleter | None = None,
    redis_keys: RedisKeys | None = None,
    physical: bool = False,
) -> DeletionReport:
    """Delete every row of the user in both event tables and the rejects, and their Redis keys."""
    stored = hash_user_id(user_id, hmac_key) if hmac_key else user_id
    report = DeletionReport(matched_id=stored, hashed=hmac_key is not None)
    for table in EVENT_TABLES:
        report.rows_deleted[table] = _delete_where(
            backend, table, f"{COL_USER_ID} = {{uid:String}}", {"uid": stored}, physical=physical
        )
    report.rows_deleted[REJECTS_TABLE] = _delete_where(
        backend,
        REJECTS_TABLE,
        f"JSONExtractString({COL_PAYLOAD}, 'user_id') IN ({{uid:String}}, {{raw:String}})",
        {"uid": stored, "raw": user_id},
        physical=physical,
    )
    if redis is not None and redis_keys is not None:
        # History is written under the id as stored; an unhashed copy is removed too.
        keys = list(dict.fromkeys(redis_keys.user_keys(stored) + redis_keys.user_keys(user_id)))
        present = [k for k in keys if redis.exists(k)]
        if present:
            redis.delete(*present)
        report.redis_keys_deleted = present
    return report
