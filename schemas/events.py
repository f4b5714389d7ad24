"""The event contract: what producers send and every consumer reads.

`InteractionEvent` keeps the seed API's fields unchanged (`feature_id`, `interaction_type`,
`position`, `metadata`, `user_id`, `session_id`) so a client written against the seed works as
is; the added fields are optional for the client and filled in on arrival.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID, uuid4

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from schemas.exploration import EXPLORATION_KEY, exploration_of
from schemas.interaction_types import LONG_VIEW, TYPE_NAME_PATTERN
from schemas.limits import (
    DEFAULT_MAX_FUTURE_SKEW_S,
    MAX_DURATION_MS,
    MAX_ID_LENGTH,
    MAX_METADATA_BYTES,
    MAX_POSITION,
    MAX_QUERY_LENGTH,
    MAX_RESULTS_PER_SEARCH,
    MAX_TYPES_PER_EVENT,
)

SCHEMA_VERSION: Final = 1

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
"""An opaque id: 1-256 characters, no control characters."""

TypeName = Annotated[str, StringConstraints(pattern=TYPE_NAME_PATTERN)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; aware ones are converted to UTC."""
    tzinfo = value.tzinfo
    if tzinfo is UTC:
        return value
    if tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def future_limit(context: Mapping[str, Any] | None) -> float:
    """The latest event time accepted, as epoch seconds: now plus the allowed clock skew; the
    validation context may override both (`now`, `max_future_skew_s`).

    Epoch seconds: this runs for every decoded event, and `time.time()` is several times
    cheaper than building aware datetimes. Shared with `schemas.fast_validation`.
    """
    if context:
        now_dt: datetime | None = context.get("now")
        now = now_dt.timestamp() if now_dt is not None else time.time()
        skew = context.get("max_future_skew_s", DEFAULT_MAX_FUTURE_SKEW_S)
    else:
        now, skew = time.time(), DEFAULT_MAX_FUTURE_SKEW_S
    return float(now + skew)


def _check_not_future(value: datetime, info: ValidationInfo) -> datetime:
    """Reject event times beyond the allowed clock skew (`future_limit`)."""
    context = info.context
    skew = (
        context.get("max_future_skew_s", DEFAULT_MAX_FUTURE_SKEW_S)
        if context
        else DEFAULT_MAX_FUTURE_SKEW_S
    )
    if value.timestamp() > future_limit(context):
        raise ValueError(
            f"must not be more than {int(skew)} s in the future, got {value.isoformat()}"
        )
    return value


_METADATA_RULES: Final[dict[str, Any]] = {
    "properties": {
        "duration_ms": {"type": "number", "minimum": 0, "maximum": MAX_DURATION_MS},
        "query": {"type": "string", "maxLength": MAX_QUERY_LENGTH},
    },
    "x-max-json-bytes": MAX_METADATA_BYTES,
}
"""What `_metadata_bounded` checks, stated in the JSON Schema for producers in other languages
(the browser SDK generates its validator from it); `x-max-json-bytes` is the size of the
object as compact UTF-8 JSON, which JSON Schema has no keyword for."""


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    schema_version: Literal[1] = Field(
        SCHEMA_VERSION, description="Wire format version; absent means 1."
    )
    event_id: UUID = Field(
        default_factory=uuid4,
        description="Idempotency key: resending the same event_id is counted once.",
    )
    timestamp: datetime = Field(
        default_factory=_utc_now,
        description="Event time in UTC (RFC 3339). Set on arrival when missing.",
    )
    user_id: Identifier | None = Field(None, description="User id, or its HMAC.")
    anonymous_id: Identifier | None = Field(
        None,
        description="Device or cookie id before login, or its HMAC; linked to a user_id by "
        "identify, so history and erasure follow the person.",
    )
    session_id: Identifier | None = Field(None, description="Session id.")
    retriever_id: Identifier | None = Field(None, description="Retriever that served results.")

    @field_validator("timestamp", mode="wrap")
    @classmethod
    def _timestamp_utc_not_future(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> datetime:
        """RFC 3339 text only (epoch numbers would be a guess at s or ms), UTC, not ahead.

        One wrap validator instead of a before and an after one: this runs for every event the
        sink and the worker decode, and each Python validator call costs.
        """
        if isinstance(value, int | float):
            raise ValueError(f"must be an RFC 3339 date-time string, got {value!r}")
        return _check_not_future(_as_utc(handler(value)), info)


class InteractionEvent(_EventBase):
    """One user reaction to one result: the seed's POST /v1/retrievers/interactions body."""

    feature_id: Identifier = Field(description="Document id from the retriever's results.")
    interaction_type: list[TypeName] = Field(
        min_length=1,
        max_length=MAX_TYPES_PER_EVENT,
        description="One or more signal types, e.g. ['click', 'long_view'].",
    )
    position: int | None = Field(
        None, ge=0, le=MAX_POSITION, description="0-based position in the results."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form context; `query` (str) and `duration_ms` (int) are understood.",
        json_schema_extra=_METADATA_RULES,
    )
    query_id: Identifier | None = Field(
        None, description="Links the interaction to the SearchEvent it came from."
    )

    @field_validator("interaction_type", mode="wrap")
    @classmethod
    def _types_as_unique_list(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A bare string is a one-element list (a common client shortcut); repeating a type
        in one event does not make it count twice."""
        types: list[str] = handler([value] if isinstance(value, str) else value)
        return types if len(types) < 2 else list(dict.fromkeys(types))

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(orjson.dumps(value))
        except TypeError as exc:
            raise ValueError(f"must be JSON-serialisable ({exc})") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON, got {size}")
        duration = value.get("duration_ms")
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not 0 <= duration <= MAX_DURATION_MS
        ):
            raise ValueError(
                f"duration_ms must be a number between 0 and {MAX_DURATION_MS}, got {duration!r}"
            )
        query = value.get("query")
        if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY_LENGTH):
            raise ValueError(f"query must be a string of at most {MAX_QUERY_LENGTH} characters")
        return value

    @property
    def query(self) -> str | None:
        query = self.metadata.get("query")
        return query if isinstance(query, str) else None

    @property
    def duration_ms(self) -> int | None:
        duration = self.metadata.get("duration_ms")
        return int(duration) if isinstance(duration, int | float) else None


def effective_types(event: InteractionEvent, long_view_ms: int) -> list[str]:
    """The event's types plus `long_view` when its dwell time reaches the threshold."""
    types = event.interaction_type
    duration = event.duration_ms
    if duration is not None and duration >= long_view_ms and LONG_VIEW not in types:
        return [*types, LONG_VIEW]
    return list(types)


class SearchEvent(_EventBase):
    """A result list served for a query; zero `total_hits` marks a zero-result query.

    Interactions link to it through `query_id`; it is what makes true CTR (clicks over
    impressions), skip-above negatives and content-gap reports computable.
    """

    query_id: Identifier = Field(
        default_factory=lambda: uuid4().hex, description="Id that interactions refer to."
    )
    query: str = Field(max_length=MAX_QUERY_LENGTH, description="Query text as the user typed it.")
    results: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_RESULTS_PER_SEARCH,
        description="feature_ids in the order shown; index = position.",
    )
    total_hits: int = Field(ge=0, description="Hits the retriever found (>= len(results)).")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form context; `exploration` ({epsilon, depth, swap}) records a "
        "logged swap of two adjacent results (docs/counterfactual.md).",
        json_schema_extra={"x-max-json-bytes": MAX_METADATA_BYTES},
    )

    @model_validator(mode="after")
    def _hits_cover_results(self) -> SearchEvent:
        if self.total_hits < len(self.results):
            raise ValueError(
                f"total_hits: must be >= number of results ({len(self.results)}), "
                f"got {self.total_hits}"
            )
        return self

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(orjson.dumps(value))
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON, got {size}")
        return value

    @field_validator("metadata")
    @classmethod
    def _exploration_shape(cls, value: dict[str, Any]) -> dict[str, Any]:
        """A logged randomisation must be readable, or estimates built on it would be wrong."""
        if EXPLORATION_KEY in value:
            exploration_of(value)
        return value

    @property
    def is_zero_result(self) -> bool:
        return self.total_hits == 0


Event = InteractionEvent | SearchEvent
"""Either kind of event, as producers send them and the sink stores them."""
