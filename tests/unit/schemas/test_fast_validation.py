"""The hand-checked fast path accepts only what the contract accepts, built exactly as the
contract builds it; everything else gets the contract's own error message.

Property-based (hypothesis): inputs mix well-formed values with the edges of every rule and
with the lax coercions pydantic performs (which the fast path must leave to the model). The
properties, for dicts as the SDK and the collector get them:

* fast path accepts => the model accepts, and the two events are equal field by field, with
  the same value types, time zone object, `model_fields_set` and wire bytes;
* `validate_event` accepts exactly what the model accepts, and rejects with the same message
  (`describe`);
* `encode` (from the fields) writes the bytes `model_dump()` + orjson wrote;
* the fast path does take the common shapes (it is not a path that always declines).
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import InteractionEvent, SearchEvent
from schemas.fast_validation import fast_interaction, fast_interaction_json, validate_event
from schemas.ids import new_event_id
from schemas.validation import describe
from schemas.wire import encode

pytestmark = [
    pytest.mark.unit,
    # hypothesis's report of a failing example imports mypy_extensions.TypedDict, deprecated:
    # with filterwarnings=error the report became an INTERNALERROR hiding the example.
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
]

PROPERTY = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIXED_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MISSING = object()

# -- strategies ---------------------------------------------------------------------------
_id_alphabet = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    ["\x00", "\x1f", "\x7f", "\n", " ", "é", "\ud800", "_", "-"]
)
identifiers = st.one_of(
    st.text(string.ascii_letters + string.digits + "_-:.", min_size=1, max_size=20),
    st.text(_id_alphabet, max_size=12),
    st.text("ab", min_size=250, max_size=260),
    st.sampled_from(["", " ", "a\x00b", "x\ud800", "ü-id", "id\n"]),
)
not_strings = st.sampled_from([0, 1.5, b"doc", None, ["doc"], True])
type_names = st.one_of(
    st.sampled_from(["click", "long_view", "purchase", "add_to_cart", "a", "a" * 64]),
    st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True),
    st.sampled_from(["", "Click", "1click", "click\n", "a" * 65, "cl ick", "clïck", "_x"]),
)
types_values = st.one_of(
    type_names,
    st.lists(type_names, max_size=18),
    st.lists(st.sampled_from(["click", "skip"]), min_size=2, max_size=5),
    st.tuples(type_names),
    st.sampled_from([None, 3, ["click", 3], {"click"}]),
)
positions = st.one_of(
    st.none(),
    st.integers(-3, 10_003),
    st.sampled_from([9_999, 10_000, 0, -1, True, False, 3.0, 2.5, "3", 2**70]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
durations = st.one_of(
    st.integers(-5, 86_400_005),
    st.sampled_from([86_400_000, 86_400_001, 0, -1, True, 1.5, float("nan"), "300", None]),
)
queries = st.one_of(
    st.text(max_size=20),
    st.text("q", min_size=1020, max_size=1030),
    st.sampled_from([None, 5, ["q"]]),
)


@st.composite
def metadatas(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from([None, [], "x", {1: "a"}, {"a": {1, 2}}]))
    value: dict[Any, Any] = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
    if draw(st.booleans()):
        value["duration_ms"] = draw(durations)
    if draw(st.booleans()):
        value["query"] = draw(queries)
    if kind == 1:
        value["big"] = "x" * draw(st.integers(8_100, 8_200))
    return value


def _timestamp_text(draw: st.DrawFn) -> str:
    digits = st.text(string.digits, min_size=2, max_size=2)
    year = draw(st.sampled_from(["2026", "2025", "0001", "9999", "0000", "1969", "2030"]))
    month = draw(st.sampled_from(["01", "06", "12", "13", "00"]) | digits)
    day = draw(st.sampled_from(["01", "15", "28", "29", "30", "31", "32", "00"]) | digits)
    hour = draw(st.sampled_from(["00", "12", "23", "24"]) | digits)
    minute = draw(st.sampled_from(["00", "59", "60"]) | digits)
    second = draw(st.sampled_from(["00", "59", "60"]) | digits)
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567", ".", ".12", ",5"]))
    zone = draw(st.sampled_from(["Z", "Z", "+00:00", "-00:00", "+02:00", "z", "", "+0000"]))
    sep = draw(st.sampled_from(["T", "T", "T", " ", "t"]))
    text = f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{zone}"
    mutation = draw(st.integers(0, 12))
    if mutation == 0 and text:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["٣", "W", "-", "+", " ", "0"])) + text[at + 1 :]
    elif mutation == 1:
        text = draw(
            st.sampled_from(["2026-W22-1T12:00:00Z", "2026-152T12:00:00Z", "20260601T120000Z"])
        )
    return text


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 6))
    if kind <= 2:
        return _timestamp_text(draw)
    if kind == 3:
        return FIXED_NOW.isoformat().replace("+00:00", "Z")
    if kind == 4:
        base = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)))
        zone = draw(
            st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(0))])
        )
        return base.replace(tzinfo=zone)
    if kind == 5:
        offset = draw(st.integers(-400, 400))
        when = datetime.now(UTC) + timedelta(
            seconds=offset, microseconds=draw(st.integers(0, 999_999))
        )
        return when.isoformat().replace("+00:00", "Z")
    return draw(st.sampled_from([1_700_000_000, 1.7e9, None, "", "now", b"2026-01-01T00:00:00Z"]))


@st.composite
def event_ids(draw: st.DrawFn) -> Any:
    value = UUID(int=draw(st.integers(0, 2**128 - 1)))
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return value
    if kind <= 3:
        return str(value)
    if kind == 4:
        return str(value).upper()
    text = str(value)
    variants = [
        value.hex,
        "{" + text + "}",
        "urn:uuid:" + text,
        text[:-1],
        text + "0",
        "0x" + text[2:],
        text[:9] + "_" + text[10:],
        text[:3] + "g" + text[4:],
        text[:30] + " " + text[31:],
        text[:35] + "٣",
        "+" + text[1:],
        None,
        123,
    ]
    return draw(st.sampled_from(variants))


@st.composite
def interaction_inputs(draw: st.DrawFn) -> dict[Any, Any]:
    """A dict as a client sends it: each field absent, well-formed or at an edge."""
    fields: dict[str, Any] = {
        "feature_id": identifiers | not_strings,
        "interaction_type": types_values,
        "position": positions,
        "metadata": metadatas(),
        "user_id": st.none() | identifiers | not_strings,
        "anonymous_id": st.none() | identifiers,
        "session_id": st.none() | identifiers,
        "retriever_id": st.none() | identifiers,
        "query_id": st.none() | identifiers,
        "event_id": event_ids(),
        "timestamp": timestamps(),
        "schema_version": st.sampled_from([1, 1, 2, 0, True, 1.0, "1", None]),
    }
    required = {"feature_id", "interaction_type"}
    data: dict[Any, Any] = {}
    for name, strategy in fields.items():
        chance = 0.97 if name in required else 0.5
        if draw(st.floats(0, 1)) < chance:
            data[name] = draw(strategy)
    if draw(st.integers(0, 19)) == 0:
        data[draw(st.sampled_from(["extra", "Position", 7]))] = 1
    return data


@st.composite
def valid_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A dict the contract accepts, as backends send them (most traffic): without these the
    edge-heavy `interaction_inputs` reach the accepting branch too rarely to catch a value
    built wrong."""
    data: dict[str, Any] = {
        "feature_id": draw(st.text(string.ascii_letters + string.digits + "_-", min_size=1)),
        "interaction_type": draw(
            st.lists(st.sampled_from(["click", "long_view", "purchase", "skip"]), min_size=1)
            | st.sampled_from(["click", "skip"])
        ),
    }
    optional: dict[str, Any] = {
        "position": st.integers(0, 9_999) | st.none(),
        "user_id": st.text(string.ascii_letters + "_é", min_size=1, max_size=40),
        "session_id": st.text(string.ascii_letters, min_size=1, max_size=40),
        "anonymous_id": st.text(string.ascii_letters, min_size=1, max_size=40),
        "query_id": st.uuids().map(str),
        "event_id": st.uuids() | st.uuids().map(str),
        "timestamp": st.datetimes(max_value=datetime(2026, 1, 1), timezones=st.just(UTC)).map(
            lambda when: when.isoformat().replace("+00:00", "Z")
        ),
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "duration_ms": st.integers(0, 86_400_000) | st.floats(0, 86_400_000),
                "query": st.text(max_size=30),
                "device": st.sampled_from(["ios", "web"]),
            },
        ),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            data[name] = draw(strategy)
    return data


inputs = st.one_of(interaction_inputs(), valid_inputs())


contexts = st.sampled_from(
    [
        None,
        {},
        {"max_future_skew_s": 300},
        {"max_future_skew_s": 0},
        {"now": FIXED_NOW, "max_future_skew_s": 10**9},
        {"now": FIXED_NOW},
    ]
)


# -- comparison ---------------------------------------------------------------------------
def assert_same_event(fast: InteractionEvent, model: InteractionEvent, data: Any) -> None:
    assert type(fast) is InteractionEvent
    assert fast.model_fields_set == model.model_fields_set
    assert list(fast.__dict__) == list(model.__dict__)
    generated = {
        name for name in ("event_id", "timestamp") if not isinstance(data, dict) or name not in data
    }
    for name, expected in model.__dict__.items():
        actual = fast.__dict__[name]
        assert type(actual) is type(expected), name
        if name not in generated:
            assert actual == expected, name
    assert fast.timestamp.tzinfo is model.timestamp.tzinfo is UTC
    if "event_id" in generated:
        assert fast.event_id.version == 4
    if "timestamp" in generated:
        assert abs(fast.timestamp - model.timestamp) < timedelta(seconds=5)
    if not generated:
        assert fast == model
        assert fast.model_dump() == model.model_dump()
        assert encode(fast) == encode(model)
    assert fast.__pydantic_extra__ is model.__pydantic_extra__
    assert fast.__pydantic_private__ is model.__pydantic_private__


def _model_or_error(data: Any, context: Any) -> InteractionEvent | ValidationError:
    try:
        return InteractionEvent.model_validate(data, context=context)
    except ValidationError as exc:
        return exc


# -- properties ---------------------------------------------------------------------------
@PROPERTY
@given(inputs, contexts)
def test_fast_path_accepts_only_what_the_model_accepts_and_builds_the_same(
    data: dict[Any, Any], context: Any
) -> None:
    fast = fast_interaction(data, context)
    model = _model_or_error(data, context)  # after: its clock is later, never stricter
    if fast is not None:
        assert isinstance(model, InteractionEvent), (
            f"fast path accepted what the model rejects: {model}"
        )
        assert_same_event(fast, model, data)


@PROPERTY
@given(inputs, contexts)
def test_validate_event_accepts_exactly_and_rejects_with_the_models_message(
    data: dict[Any, Any], context: Any
) -> None:
    try:
        ours: InteractionEvent | SearchEvent | ValidationError = validate_event(
            InteractionEvent, data, context
        )
    except ValidationError as exc:
        ours = exc
    model = _model_or_error(data, context)
    if isinstance(model, ValidationError):
        assert isinstance(ours, ValidationError)
        assert describe(ours) == describe(model)
    else:
        assert isinstance(ours, InteractionEvent)
        assert_same_event(ours, model, data)


@PROPERTY
@given(st.dictionaries(st.text(max_size=6), json_values | st.tuples(st.integers()), max_size=4))
def test_encode_writes_what_model_dump_writes(metadata: dict[str, Any]) -> None:
    try:
        event = InteractionEvent(feature_id="doc", interaction_type=["click"], metadata=metadata)
    except ValidationError:
        assume(False)
        return
    expected = orjson.dumps(event.model_dump(), option=orjson.OPT_UTC_Z)
    assert encode(event) == expected


# -- the fast path is taken ---------------------------------------------------------------
def test_seed_shaped_events_take_the_fast_path() -> None:
    seed = {
        "feature_id": "doc_00042",
        "interaction_type": ["click", "long_view", "click"],
        "position": 3,
        "metadata": {"duration_ms": 4200, "query": "wireless earbuds"},
        "user_id": "user_7",
        "session_id": "sess_9",
    }
    event = fast_interaction(seed, {"max_future_skew_s": 300})
    assert event is not None
    assert event.interaction_type == ["click", "long_view"]
    assert event.metadata == seed["metadata"] and event.metadata is not seed["metadata"]
    wire = orjson.loads(encode(event))
    decoded = fast_interaction(wire)
    assert decoded is not None and decoded == event
    assert decoded.model_fields_set == set(wire)


def test_what_the_wire_writes_takes_the_fast_path() -> None:
    for microsecond in (0, 5, 999_999):
        event = InteractionEvent(
            feature_id="d",
            interaction_type="click",
            timestamp=FIXED_NOW.replace(microsecond=microsecond),
        )
        assert fast_interaction(orjson.loads(encode(event))) == event


def test_new_event_ids_are_random_version_4_uuids() -> None:
    ids = [new_event_id() for _ in range(2_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:50]:
        assert value.version == 4 and value.variant == "specified in RFC 4122"
        assert UUID(str(value)) == value and hash(UUID(str(value))) == hash(value)


@PROPERTY
@given(
    st.lists(identifiers, max_size=5),
    st.dictionaries(st.text(max_size=6), json_values | st.tuples(st.integers()), max_size=4),
)
def test_encode_of_a_search_event_writes_what_model_dump_writes(
    results: list[str], metadata: dict[str, Any]
) -> None:
    try:
        event = SearchEvent(query="q", results=results, total_hits=len(results), metadata=metadata)
    except (ValidationError, TypeError):  # SearchEvent lets orjson's TypeError (an int
        # beyond 64 bits) through where InteractionEvent words it: the contract as it is
        assume(False)
        return
    assert encode(event) == orjson.dumps(event.model_dump(), option=orjson.OPT_UTC_Z)


# -- bytes: the sink's path ---------------------------------------------------------------
_FRAGMENTS = [
    '"position":5',
    '"position":5.0',
    '"position":true',
    '"position":-0',
    '"position":1e2',
    '"event_id":null',
    '"timestamp":null',
    '"user_id":null',
    '"user_id":"\\u0041\\u00e9"',
    '"user_id":"\\ud800"',
    '"user_id":"a\\nb"',
    '"feature_id":"doc"',
    '"interaction_type":"click"',
    '"interaction_type":["click","click"]',
    '"metadata":{"n":123456789012345678901234567890}',
    '"metadata":{"n":1e400}',
    '"metadata":{"n":NaN}',
    '"metadata":{"d":1,"d":2}',
    '"metadata":{"duration_ms":-0.0,"query":"\\u0071"}',
    '"metadata":{"duration_ms":86400000.0000001}',
    '"schema_version":1.0',
    '"extra":1',
]


def _json_default(value: Any) -> Any:
    if isinstance(value, UUID | datetime):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError


@st.composite
def wire_payloads(draw: st.DrawFn) -> bytes:
    """A message as the sink reads it: an input dict as JSON, at times with a fragment
    spliced in (a repeated key, a number or escape the two JSON readers might take apart)."""
    data = draw(inputs)
    try:
        payload = orjson.dumps(
            data,
            default=_json_default,
            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
        )
    except TypeError:
        payload = b'{"feature_id":"d","interaction_type":["click"]}'
    kind = draw(st.integers(0, 3))
    if kind == 1 and payload.startswith(b"{") and payload != b"{}":
        fragment = draw(st.sampled_from(_FRAGMENTS)).encode()
        at_end = draw(st.booleans())
        if at_end:
            payload = payload[:-1] + b"," + fragment + b"}"
        else:
            payload = b"{" + fragment + b"," + payload[1:]
    elif kind == 2:
        payload = draw(st.sampled_from([b"[]", b"{}", b"null", b"{", b"\xff", b" {} "]))
    return payload


def _model_or_error_json(payload: bytes, context: Any) -> InteractionEvent | ValidationError:
    try:
        return InteractionEvent.model_validate_json(payload, context=context)
    except ValidationError as exc:
        return exc


@PROPERTY
@given(wire_payloads(), contexts)
def test_fast_json_accepts_only_what_the_model_accepts_and_builds_the_same(
    payload: bytes, context: Any
) -> None:
    fast = fast_interaction_json(payload, context)
    model = _model_or_error_json(payload, context)
    if fast is not None:
        assert isinstance(model, InteractionEvent), (
            f"fast path accepted what the model rejects: {model}"
        )
        assert_same_event(fast, model, orjson.loads(payload))


def test_what_the_wire_writes_takes_the_fast_json_path() -> None:
    for microsecond in (0, 5, 999_999):
        event = InteractionEvent(
            feature_id="d",
            interaction_type=["click", "long_view"],
            position=0,
            user_id="u",
            metadata={"duration_ms": 1.5, "query": "q"},
            timestamp=FIXED_NOW.replace(microsecond=microsecond),
        )
        payload = encode(event)
        fast = fast_interaction_json(payload)
        assert fast is not None and fast == event
        model = InteractionEvent.model_validate_json(payload)
        assert_same_event(fast, model, orjson.loads(payload))
        assert fast.model_fields_set == set(InteractionEvent.model_fields)
