"""Delivery reports: what happened to each event after it left the caller's hands."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from schemas.errors import KafkaUnavailableError


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """An event Kafka did not acknowledge; `index` is its place in a bulk call, if any."""

    event_id: UUID
    reason: str
    index: int | None = None


class DeliveryError(KafkaUnavailableError, RuntimeError):
    """Raised by flush()/close() when any event was not acknowledged: never silent."""

    def __init__(self, failures: list[DeliveryFailure]) -> None:
        self.failures = failures
        first = failures[0]
        super().__init__(
            f"{len(failures)} event(s) not delivered; first: {first.event_id}: {first.reason}"
        )


@dataclass(slots=True)
class BulkResult:
    """Outcome of send_many: events acknowledged, and per-index validation/delivery errors."""

    accepted: int = 0
    delivered: int = 0
    invalid: dict[int, list[str]] = field(default_factory=dict)
    failed: list[DeliveryFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed
