"""Kafka topic names and message keys.

Names come from settings (so tests and tenants can use their own); keys are fixed here:
interactions are keyed by `feature_id`, so all increments of one document land on one
partition in order; search events by `query_id`, so a result list and its interactions'
query are easy to co-locate downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings


@dataclass(frozen=True, slots=True)
class Topics:
    interactions: str
    searches: str
    dead_letter: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(
            settings.topics.interactions, settings.topics.searches, settings.topics.dead_letter
        )

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.interactions, self.searches, self.dead_letter)


def interaction_key(event: InteractionEvent) -> bytes:
    return event.feature_id.encode()


def search_key(event: SearchEvent) -> bytes:
    return event.query_id.encode()


DLQ_HEADER_REASON = "dlq-reason"
DLQ_HEADER_SOURCE_TOPIC = "dlq-source-topic"
DLQ_HEADER_SOURCE_PARTITION = "dlq-source-partition"
DLQ_HEADER_SOURCE_OFFSET = "dlq-source-offset"
DLQ_HEADER_COMPONENT = "dlq-component"
"""Dead-letter records keep the original bytes as value and key; these headers say why."""
