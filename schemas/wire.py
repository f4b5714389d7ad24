"""Wire format v1: one JSON object per Kafka message, encoded with orjson.

The payload is the event model itself plus `schema_version`. A message without
`schema_version` is read as version 1, so seed-format JSON produced by hand or by other
languages is accepted; a higher version is refused with a clear reason instead of guessed at.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.errors import DecodeError
from schemas.events import SCHEMA_VERSION, InteractionEvent, SearchEvent
from schemas.validation import describe

CONTENT_TYPE: Final = "application/json"
HEADER_SCHEMA_VERSION: Final = "schema-version"
HEADER_EVENT_KIND: Final = "event-kind"

_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z

EventT = TypeVar("EventT", InteractionEvent, SearchEvent)


def to_json_dict(event: BaseModel) -> dict[str, Any]:
    """The event as JSON-ready Python values (what the wire and ClickHouse rows carry)."""
    return event.model_dump(mode="json")


def encode(event: InteractionEvent | SearchEvent) -> bytes:
    """The event's JSON: its field values as they are, in field order.

    A validated event's fields already hold what `model_dump()` returns (UUID, datetime,
    lists of str, ints), so they are dumped directly, which costs a fifth; only metadata
    holding something other than plain JSON values (a dataclass, a str subclass) would be
    dumped differently by the model, and that goes through `model_dump()`.
    """
    if type(event) in _PLAIN_MODELS and plain_json(event.metadata):
        return orjson.dumps(event.__dict__, option=_ORJSON_OPTIONS)
    return orjson.dumps(event.model_dump(), option=_ORJSON_OPTIONS)


_PLAIN_MODELS: Final = (InteractionEvent, SearchEvent)
_SCALARS: Final = frozenset((str, int, float, bool, type(None)))


def plain_json(value: Any) -> bool:
    """Whether `value` is made of exactly dict (str keys), list, str, int, float, bool and
    None: what `model_dump()` hands back untouched."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():  # a loop, not all(genexpr): half the cost here
            if type(key) is not str or (type(item) not in _SCALARS and not plain_json(item)):
                return False
        return True
    if kind is list:
        return all(plain_json(item) for item in value)
    return kind in _SCALARS


def encode_many(events: list[InteractionEvent] | list[SearchEvent]) -> list[bytes]:
    return [encode(e) for e in events]


def _load(payload: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecodeError(f"must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise DecodeError(f"schema_version: unsupported version {version!r}, expected 1")
    return data


def validate(
    model: type[EventT], data: dict[str, Any], context: dict[str, Any] | None = None
) -> EventT:
    """Validate a decoded object, turning pydantic's error into a DecodeError naming fields."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise DecodeError("; ".join(describe(exc))) from None


def decode(
    model: type[EventT], payload: bytes | str, context: dict[str, Any] | None = None
) -> EventT:
    """Parse and validate in one pass (pydantic-core reads the JSON itself: this is the hot
    path of the worker and the sink), with the same reasons as `_load` + `validate`."""
    try:
        return model.model_validate_json(payload, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise DecodeError(f"not valid JSON: {first['ctx'].get('error', '')}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise DecodeError(_not_an_object(payload)) from None
        if first["loc"] == ("schema_version",):
            raise DecodeError(
                f"schema_version: unsupported version {first.get('input')!r}, expected 1"
            ) from None
        raise DecodeError("; ".join(describe(exc))) from None


def _not_an_object(payload: bytes | str) -> str:
    try:
        kind = type(orjson.loads(payload)).__name__
    except orjson.JSONDecodeError:
        kind = "something else"
    return f"must be a JSON object, got {kind}"


def decode_interaction(
    payload: bytes | str, context: dict[str, Any] | None = None
) -> InteractionEvent:
    """Bytes go through the model (pydantic-core reads the JSON itself). Not through
    `schemas.fast_validation`: orjson plus the hand checks measured ~10 % slower than
    pydantic-core's own JSON path (7.5 vs 6.8 us per event, interleaved on one machine),
    where from a dict the hand checks are ~27 % faster than the model."""
    return decode(InteractionEvent, payload, context)


def decode_search(payload: bytes | str, context: dict[str, Any] | None = None) -> SearchEvent:
    return decode(SearchEvent, payload, context)
