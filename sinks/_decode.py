"""Kafka message -> ClickHouse row: the event's row when it decodes, a reject row when not.

Decoding goes through the event contract (schemas.wire), the same validation producers
apply, so a row in ClickHouse always satisfies the contract; a message that does not becomes a
`sink_rejects` row with its original bytes and the reason, and the sink goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.clickhouse_ddl import (
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    SEARCH_EVENT_COLUMNS,
    SEARCH_EVENTS_TABLE,
    Row,
    interaction_row,
    search_event_row,
)
from schemas.topics import Topics
from schemas.wire import DecodeError, decode_interaction, decode_search

RowBuilder = Callable[[bytes, str, int, int], Row]
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Route:
    """Where one topic's messages go and how they are decoded."""

    table: str
    columns: tuple[str, ...]
    build: RowBuilder


def routes(topics: Topics, context: dict[str, Any]) -> dict[str, Route]:
    """Topic name -> Route, for both event topics."""

    def interaction(value: bytes, topic: str, partition: int, offset: int) -> Row:
        return interaction_row(decode_interaction(value, context), topic, partition, offset)

    def search(value: bytes, topic: str, partition: int, offset: int) -> Row:
        event = decode_search(value, context)
        if event.total_hits > _UINT64_MAX:  # the contract has no upper bound; the column has
            raise DecodeError(f"total_hits: must be at most {_UINT64_MAX}, got {event.total_hits}")
        return search_event_row(event, topic, partition, offset)

    return {
        topics.interactions: Route(INTERACTIONS_TABLE, INTERACTION_COLUMNS, interaction),
        topics.searches: Route(SEARCH_EVENTS_TABLE, SEARCH_EVENT_COLUMNS, search),
    }


def reject_row(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> Row:
    """A `sink_rejects` row in REJECT_COLUMNS order; key and payload kept byte for byte."""
    return (topic, partition, offset, key or b"", value or b"", reason, datetime.now(UTC))


def decode(
    route: Route, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> tuple[str, Row]:
    """(table, row) for one message; never raises for bad input."""
    if not value:
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, "empty message")
    try:
        return route.table, route.build(value, topic, partition, offset)
    except DecodeError as exc:
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, exc.reason)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. metadata orjson cannot dump
        reason = f"cannot store: {exc}"
        return REJECTS_TABLE, reject_row(topic, partition, offset, key, value, reason)
