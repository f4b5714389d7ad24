"""The sink's interaction rows through the fast path are the rows the contract gave.

For any message (well-formed, at an edge of a rule, or broken), `sinks._decode.decode` with
the fast path must give the same table and row as decoding with the model
(`schemas.wire.decode_interaction`) and building the row from its event as the sink did
before (`_row_as_before`); a rejected message the same reject row with the same reason.
Columns the contract fills in when a message has no `event_id` or `timestamp` (a random id,
the arrival time) and a reject's arrival time are compared for type only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given

from schemas.errors import DecodeError
from schemas.events import InteractionEvent
from schemas.topics import Topics
from schemas.wire import decode_interaction
from sinks._decode import Route, decode, routes
from sinks.ddl import ABSENT, INTERACTION_COLUMNS, INTERACTIONS_TABLE, Row
from tests.unit.schemas.test_fast_validation import PROPERTY, contexts, wire_payloads

pytestmark = [
    pytest.mark.unit,
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
]

TOPICS = Topics("interactions", "searches", "dlq")


def _row_as_before(event: InteractionEvent, topic: str, partition: int, offset: int) -> Row:
    """`sinks.ddl.interaction_row` as it was before the fast path, spelled out: the oracle
    for the row builder too."""

    def absent(value: str | None) -> str:
        return ABSENT if value is None else value

    metadata = orjson.dumps(event.metadata).decode() if event.metadata else "{}"
    return (
        event.event_id,
        event.timestamp,
        event.feature_id,
        list(event.interaction_type),
        event.position,
        absent(event.user_id),
        absent(event.anonymous_id),
        absent(event.session_id),
        absent(event.retriever_id),
        absent(event.query_id),
        absent(event.query),
        event.duration_ms,
        metadata,
        topic,
        partition,
        offset,
    )


def _model_route(context: dict[str, Any] | None) -> Route:
    """The route as it was before the fast path: the model decodes every message."""

    def build(value: bytes, topic: str, partition: int, offset: int) -> Row:
        return _row_as_before(decode_interaction(value, context), topic, partition, offset)

    return Route(INTERACTIONS_TABLE, INTERACTION_COLUMNS, build)


def _comparable(table: str, row: Row, payload: bytes) -> list[Any]:
    values = list(row)
    if table != INTERACTIONS_TABLE:  # a reject: its last column is the arrival time
        assert isinstance(values[-1], datetime)
        return values[:-1]
    for name in ("event_id", "timestamp"):
        if f'"{name}"'.encode() not in payload:  # filled in by the contract on arrival
            at = INTERACTION_COLUMNS.index(name)
            values[at] = type(values[at])
    return values


@PROPERTY
@given(wire_payloads(), contexts)
def test_fast_rows_are_the_models_rows(payload: bytes, context: Any) -> None:
    fast_table, fast_row = decode(
        routes(TOPICS, context)["interactions"], "interactions", 1, 7, b"k", payload
    )
    model_table, model_row = decode(_model_route(context), "interactions", 1, 7, b"k", payload)
    assert fast_table == model_table
    assert _comparable(fast_table, fast_row, payload) == _comparable(
        model_table, model_row, payload
    )


def test_a_rejected_message_keeps_the_models_reason() -> None:
    payload = b'{"feature_id": "d", "interaction_type": ["click"], "position": -1}'
    with pytest.raises(DecodeError) as model:
        decode_interaction(payload)
    table, row = decode(routes(TOPICS, None)["interactions"], "interactions", 0, 3, None, payload)
    assert table != INTERACTIONS_TABLE
    assert row[-2] == model.value.reason == "position: must be >= 0, got -1"
