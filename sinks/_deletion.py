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
    COL_ANONYMOUS_ID,
    COL_DURATION_MS,
    COL_EVENT_ID,
    COL_FEATURE_ID,
    COL_INSERTED_AT,
    COL_INTERACTION_TYPE,
    COL_KAFKA_OFFSET,
    COL_KAFKA_PARTITION,
    COL_PAYLOAD,
    COL_TIMESTAMP,
    COL_USER_ID,
    EVENT_TABLES,
    INTERACTIONS_TABLE,
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


@dataclass(frozen=True, slots=True)
class RowMatch:
    """Which event rows an erasure covers: one person's (user id and linked anonymous ids,
    as stored) or everyone's (no ids), within an event-time range (inclusive, ms)."""

    user_id: str | None = None
    anonymous_ids: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None

    def where(self) -> tuple[str, Params]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        people: list[str] = []
        if self.user_id is not None:
            people.append(f"{COL_USER_ID} = {{uid:String}}")
            params["uid"] = self.user_id
        if self.anonymous_ids:
            people.append(f"{COL_ANONYMOUS_ID} IN {{aids:Array(String)}}")
            params["aids"] = list(self.anonymous_ids)
        if people:
            clauses.append("(" + " OR ".join(people) + ")")
        if self.since_ms is not None:
            clauses.append(f"{COL_TIMESTAMP} >= fromUnixTimestamp64Milli({{since:Int64}})")
            params["since"] = self.since_ms
        if self.until_ms is not None:
            # Inclusive to the millisecond: rows up to the end of the tombstone's millisecond.
            clauses.append(f"{COL_TIMESTAMP} < fromUnixTimestamp64Milli({{until:Int64}})")
            params["until"] = self.until_ms + 1
        return " AND ".join(clauses) or "1", params


def counted_events(backend: ClickHouseBackend, match: RowMatch) -> list[dict[str, Any]]:
    """The matching interactions as the popularity worker would have counted them: one row
    per stored copy (feature, event_id, Kafka partition and offset: the position tells the
    worker's record whether it counted that copy), with the time the sink stored it (so an
    event that was too old for every window on arrival can be told apart)."""
    where, params = match.where()
    return backend.query(
        f"SELECT {COL_FEATURE_ID} AS feature_id, {COL_EVENT_ID} AS event_id, "
        f"{COL_KAFKA_PARTITION} AS partition, {COL_KAFKA_OFFSET} AS offset, "
        f"any({COL_TIMESTAMP}) AS event_time, any({COL_INTERACTION_TYPE}) AS types, "
        f"any({COL_DURATION_MS}) AS dwell_ms, min({COL_INSERTED_AT}) AS stored_at "
        f"FROM {INTERACTIONS_TABLE} WHERE {where} "
        f"GROUP BY {COL_FEATURE_ID}, {COL_EVENT_ID}, {COL_KAFKA_PARTITION}, {COL_KAFKA_OFFSET}",
        params,
    )


def people_in(backend: ClickHouseBackend, match: RowMatch) -> list[tuple[str, str]]:
    """(user_id, anonymous_id) pairs with matching interactions: whose history to repair."""
    where, params = match.where()
    rows = backend.query(
        f"SELECT DISTINCT {COL_USER_ID} AS u, {COL_ANONYMOUS_ID} AS a "
        f"FROM {INTERACTIONS_TABLE} WHERE {where}",
        params,
    )
    return [(str(r["u"]), str(r["a"])) for r in rows]


def latest_per_member(
    backend: ClickHouseBackend, match: RowMatch, long_view_ms: int
) -> dict[str, int]:
    """`<type>:<feature_id>` -> latest event time (ms) among the matching interactions (with
    `long_view` derived from the dwell time, as the worker does): a history rebuilt from rows."""
    where, params = match.where()
    rows = backend.query(
        f"SELECT concat(t, ':', {COL_FEATURE_ID}) AS member, "
        f"toUnixTimestamp64Milli(max({COL_TIMESTAMP})) AS ms FROM {INTERACTIONS_TABLE} "
        f"ARRAY JOIN arrayDistinct(if(ifNull({COL_DURATION_MS}, 0) >= {{lv:UInt32}}, "
        f"arrayPushBack({COL_INTERACTION_TYPE}, 'long_view'), {COL_INTERACTION_TYPE})) AS t "
        f"WHERE {where} GROUP BY member",
        {**params, "lv": long_view_ms},
    )
    return {str(r["member"]): int(r["ms"]) for r in rows}


def delete_matching(
    backend: ClickHouseBackend, match: RowMatch, *, physical: bool = False
) -> dict[str, int]:
    """Delete the matching rows of both event tables; rows per table."""
    where, params = match.where()
    return {
        table: _delete_where(backend, table, where, params, physical=physical)
        for table in EVENT_TABLES
    }
