"""Response bodies of the HTTP service, as pydantic models so OpenAPI documents them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Any error that is not about individual events (auth, size, bad query parameters)."""

    detail: str = Field(description="What went wrong, in one sentence.")
    errors: list[str] = Field(
        default_factory=list, description="One `field: rule` line per problem, when known."
    )


class EventFailure(BaseModel):
    """One event of a request that was not published, by its place in the request."""

    index: int | None = Field(
        description="0-based index in the request (0 for a single event); null: the body."
    )
    event_id: str | None = Field(None, description="Its event_id, when it was valid.")
    errors: list[str] = Field(description="`field: rule` lines, or the delivery error.")
    retryable: bool = Field(
        description="True for delivery failures (resend the same event); false for invalid input."
    )


class IngestResult(BaseModel):
    """Answer to a POST of events; sent only after Kafka acknowledged the accepted ones."""

    received: int = Field(description="Events in the request.")
    accepted: int = Field(description="Events acknowledged by Kafka.")
    event_ids: list[str | None] = Field(
        description="event_id per request index (generated when absent); null where invalid."
    )
    failures: list[EventFailure] = Field(
        default_factory=list, description="Events not published, by index."
    )
    detail: str | None = Field(None, description="Summary when not everything was accepted.")


class CheckResult(BaseModel):
    ok: bool
    ms: float = Field(description="How long the check took.")
    error: str | None = None


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `not ready`.")
    checks: dict[str, CheckResult]


class Liveness(BaseModel):
    status: str = "ok"


class DeletionResult(BaseModel):
    matched_id: str = Field(description="The id as matched (the HMAC when ids are hashed).")
    hashed: bool
    rows_deleted: dict[str, int] = Field(description="Rows removed per table.")
    rows_total: int
    redis_keys_deleted: list[str]
