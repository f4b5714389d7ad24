"""GDPR deletion in ClickHouse: one interaction by id, or every row of one user.

Rows go with a lightweight `DELETE` (invisible to every query at once, gone from disk at the
next merge of their parts) or, with `physical=True`, with a synchronous mutation that
rewrites the parts before returning. Forgetting a user across ClickHouse and Redis is
`interaction_pipeline.users.forget_user`, above both stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sinks._backend import ClickHouseBackend, Params
from sinks.ddl import (
    COL_EVENT_ID,
    COL_PAYLOAD,
    COL_USER_ID,
    EVENT_TABLES,
    REJECTS_TABLE,
)


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


def delete_user_rows(
    backend: ClickHouseBackend, stored_id: str, *, raw_id: str | None = None, physical: bool = False
) -> dict[str, int]:
    """Delete every row of one user in both event tables and the rejects; rows per table.

    `stored_id` is the id as the events carry it (the HMAC when producers hash ids); rejected
    messages are raw and possibly unhashed, so they are matched on `raw_id` too.
    """
    rows: dict[str, int] = {}
    for table in EVENT_TABLES:
        rows[table] = _delete_where(
            backend, table, f"{COL_USER_ID} = {{uid:String}}", {"uid": stored_id}, physical=physical
        )
    rows[REJECTS_TABLE] = _delete_where(
        backend,
        REJECTS_TABLE,
        f"JSONExtractString({COL_PAYLOAD}, 'user_id') IN ({{uid:String}}, {{raw:String}})",
        {"uid": stored_id, "raw": raw_id if raw_id is not None else stored_id},
        physical=physical,
    )
    return rows
