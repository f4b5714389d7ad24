"""The seed's read API over ClickHouse: list interactions by feature, user, type and age.

`GET /v1/retrievers/interactions?feature_id=` / `?user_id=&limit=` / `?interaction_type=&days=`
/ `?page=&page_size=` map one to one onto `InteractionQueries.list(...)`. Items are dicts in
the seed's event JSON shape (the InteractionEvent fields), newest first.

Two ways to page:

* `page` / `page_size` (<= 1,000): OFFSET paging, as the seed has it. Pages shift when new
  events arrive, like any offset paging.
* `cursor`: keyset paging on (timestamp, event_id), descending. Each page carries
  `next_cursor`; passing it back returns the rows strictly older than the last one seen, so
  events arriving meanwhile (newer, or late ones sorted elsewhere) never shift or repeat what
  is still to come.
"""

from __future__ import annotations

import base64
import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.errors import InvalidArgumentError, InvalidCursorError
from schemas.interaction_types import TYPE_NAME_PATTERN
from schemas.privacy import NO_HASHING, UserIdHasher
from sinks._backend import ClickHouseBackend
from sinks.ddl import (
    COL_ANONYMOUS_ID,
    COL_EVENT_ID,
    COL_FEATURE_ID,
    COL_INTERACTION_TYPE,
    COL_QUERY,
    COL_QUERY_ID,
    COL_RETRIEVER_ID,
    COL_SESSION_ID,
    COL_TIMESTAMP,
    COL_USER_ID,
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    interaction_from_row,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TYPE_RE: Final = re.compile(TYPE_NAME_PATTERN)
MAX_PAGE_SIZE: Final = 1_000
DEFAULT_PAGE_SIZE: Final = 50
_READ_COLUMNS: Final = ", ".join(c for c in INTERACTION_COLUMNS if not c.startswith("kafka_"))


class InteractionFilter(BaseModel):
    """Which interactions to read; every field is optional and they combine with AND."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature_id: str | None = Field(None, description="Only this document.")
    user_id: str | None = Field(
        None, description="Only this user (hashed here when USER_ID_HMAC_KEY is set)."
    )
    anonymous_ids: list[str] = Field(
        default_factory=list,
        description="With user_id: also the rows of these anonymous ids, as stored (the "
        "pre-login ids linked to the user by identify); alone: only their rows.",
    )
    session_id: str | None = Field(None, description="Only this session.")
    retriever_id: str | None = Field(None, description="Only this retriever.")
    query_id: str | None = Field(None, description="Only interactions with this result list.")
    query: str | None = Field(None, description="Only this exact query text.")
    interaction_type: list[str] = Field(
        default_factory=list, description="Any of these types (empty: all)."
    )
    days: int | None = Field(None, ge=1, le=3650, description="Only the last N days.")
    since: datetime | None = Field(None, description="Only at or after this time (UTC).")
    until: datetime | None = Field(None, description="Only before this time (UTC).")

    @field_validator("interaction_type")
    @classmethod
    def _type_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _TYPE_RE.match(name):
                raise InvalidArgumentError(f"{name!r} is not a lower-case identifier")
        return value


class StoredInteraction(BaseModel):
    """An interaction as stored, in the seed's shape: `item.feature_id`, `item.interaction_type`,
    ... (what `InteractionQueries.rows` returns, and the HTTP GET routes answer)."""

    schema_version: int
    event_id: str
    timestamp: str
    feature_id: str
    interaction_type: list[str]
    position: int | None
    metadata: dict[str, Any]
    user_id: str | None
    anonymous_id: str | None = None
    """Set on rows sent before login (and no user_id), read with the user's linked ids."""
    session_id: str | None
    retriever_id: str | None
    query_id: str | None


@dataclass(slots=True)
class InteractionPage:
    """One page: items newest first, and how to get the next one."""

    items: list[dict[str, Any]]
    page_size: int
    page: int | None = None
    next_cursor: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "page": self.page,
            "page_size": self.page_size,
            "next_cursor": self.next_cursor,
        }


def encode_cursor(timestamp: datetime, event_id: UUID | str) -> str:
    """Opaque, URL-safe position after a row: its event time (µs) and event id."""
    micros = _micros(timestamp)
    raw = orjson.dumps([micros, str(event_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        micros, event_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return int(micros), UUID(str(event_id))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidCursorError(f"cursor: not a cursor returned by this API ({exc})") from None


class InteractionQueries:
    """Read interactions; one instance per backend, safe to share between requests."""

    def __init__(self, backend: ClickHouseBackend, *, hasher: UserIdHasher = NO_HASHING) -> None:
        self._backend = backend
        self._hasher = hasher

    def stored_user_id(self, user_id: str) -> str:
        """The id as stored: HMAC-hashed when a key is configured, as given otherwise."""
        return self._hasher(user_id)

    def where(self, flt: InteractionFilter) -> tuple[str, dict[str, Any]]:
        """SQL condition and parameters for a filter (also used by export)."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        people: list[str] = []
        if flt.user_id is not None:
            people.append(f"{COL_USER_ID} = {{{COL_USER_ID}:String}}")
            params[COL_USER_ID] = self.stored_user_id(flt.user_id)
        if flt.anonymous_ids:
            people.append(f"{COL_ANONYMOUS_ID} IN {{anonymous_ids:Array(String)}}")
            params["anonymous_ids"] = list(flt.anonymous_ids)
        if people:
            clauses.append("(" + " OR ".join(people) + ")")
        equals = {
            COL_FEATURE_ID: flt.feature_id,
            COL_SESSION_ID: flt.session_id,
            COL_RETRIEVER_ID: flt.retriever_id,
            COL_QUERY_ID: flt.query_id,
            COL_QUERY: flt.query,
        }
        for column, value in equals.items():
            if value is not None:
                clauses.append(f"{column} = {{{column}:String}}")
                params[column] = value
        if flt.interaction_type:
            clauses.append(f"hasAny({COL_INTERACTION_TYPE}, {{types:Array(String)}})")
            params["types"] = list(flt.interaction_type)
        if flt.days is not None:
            clauses.append(f"{COL_TIMESTAMP} >= now64(6) - toIntervalDay({{days:UInt32}})")
            params["days"] = flt.days
        if flt.since is not None:
            clauses.append(f"{COL_TIMESTAMP} >= fromUnixTimestamp64Micro({{since:Int64}})")
            params["since"] = _micros(flt.since)
        if flt.until is not None:
            clauses.append(f"{COL_TIMESTAMP} < fromUnixTimestamp64Micro({{until:Int64}})")
            params["until"] = _micros(flt.until)
        return (" AND ".join(clauses) or "1"), params

    def list(
        self,
        flt: InteractionFilter | None = None,
        *,
        limit: int | None = None,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> InteractionPage:
        """One page of interactions matching `flt`, newest first.

        `limit` is the seed's `?user_id=&limit=50`: the first `limit` rows. `page` (from 1)
        with `page_size` is offset paging; `cursor` (from a previous page's `next_cursor`)
        is stable keyset paging. At most 1,000 rows per call.
        """
        flt = flt or InteractionFilter()
        size = page_size if page_size is not None else (limit or DEFAULT_PAGE_SIZE)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidArgumentError(
                f"page_size: must be between 1 and {MAX_PAGE_SIZE}, got {size}"
            )
        if page is not None and page < 1:
            raise InvalidArgumentError(f"page: must be >= 1, got {page}")
        if page is not None and cursor is not None:
            raise InvalidArgumentError("page and cursor: give one of them, not both")
        where, params = self.where(flt)
        if cursor is not None:
            micros, event_id = decode_cursor(cursor)
            where += (
                f" AND ({COL_TIMESTAMP}, {COL_EVENT_ID}) < "
                "(fromUnixTimestamp64Micro({c_ts:Int64}), {c_id:UUID})"
            )
            params |= {"c_ts": micros, "c_id": str(event_id)}
        offset = (page - 1) * size if page is not None else 0
        sql = (
            f"SELECT {_READ_COLUMNS} FROM {INTERACTIONS_TABLE} WHERE {where} "
            f"ORDER BY {COL_TIMESTAMP} DESC, {COL_EVENT_ID} DESC "
            f"LIMIT 1 BY {COL_EVENT_ID} "
            f"LIMIT {{size:UInt32}} OFFSET {{offset:UInt64}}"
        )
        params |= {"size": size, "offset": offset}
        rows = self._backend.query(sql, params)
        next_cursor = None
        if len(rows) == size:
            last = rows[-1]
            next_cursor = encode_cursor(last[COL_TIMESTAMP], last[COL_EVENT_ID])
        return InteractionPage(
            items=[interaction_from_row(r) for r in rows],
            page_size=size,
            page=page,
            next_cursor=next_cursor,
            filters=flt.model_dump(exclude_defaults=True),
        )

    def rows(
        self, flt: InteractionFilter, *, limit: int | None = None
    ) -> builtins.list[StoredInteraction]:
        """Every interaction matching `flt` (or the newest `limit`), newest first, as models:
        pages through the results with the stable cursor."""
        found: builtins.list[StoredInteraction] = []
        cursor: str | None = None
        while limit is None or len(found) < limit:
            size = MAX_PAGE_SIZE if limit is None else min(MAX_PAGE_SIZE, limit - len(found))
            page = self.list(flt, page_size=size, cursor=cursor)
            found.extend(StoredInteraction.model_validate(item) for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def get(self, event_id: UUID | str) -> dict[str, Any] | None:
        """One interaction by its event_id, or None."""
        rows = self._backend.query(
            f"SELECT {_READ_COLUMNS} FROM {INTERACTIONS_TABLE} "
            f"WHERE {COL_EVENT_ID} = {{id:UUID}} LIMIT 1",
            {"id": str(event_id)},
        )
        return interaction_from_row(rows[0]) if rows else None

    def count(self, flt: InteractionFilter | None = None) -> int:
        where, params = self.where(flt or InteractionFilter())
        rows = self._backend.query(
            f"SELECT count() AS n FROM {INTERACTIONS_TABLE} WHERE {where}", params
        )
        return int(rows[0]["n"])

    def feature_ids(self, flt: InteractionFilter) -> Sequence[str]:
        """Distinct feature_ids matching `flt` (the seed's `$nin` exclusion list)."""
        where, params = self.where(flt)
        rows = self._backend.query(
            f"SELECT DISTINCT {COL_FEATURE_ID} AS f FROM {INTERACTIONS_TABLE} WHERE {where}",
            params,
        )
        return [str(r["f"]) for r in rows]


def _micros(value: datetime) -> int:
    """Microseconds since the epoch, in integers (a float would round the last digit)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)
