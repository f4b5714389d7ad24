"""`InteractionEvent`'s structural rules as a msgspec Struct, generated from the model.

msgspec checks a dict (`msgspec.convert`) or JSON bytes (`msgspec.json.decode`) against a
Struct in C: known fields only, exact types (no `"3"` for 3, no bool for an int), string
lengths, list lengths, integer bounds, UUID text. That is most of what the
contract checks, at a fraction of pydantic's cost per event. The bounds are read from the
pydantic model's own field metadata (which takes them from `schemas.limits` and
`schemas.interaction_types`), so the two cannot drift apart. String patterns are the
exception: msgspec runs them through Python's `re`, which cost more than the rest of the
Struct together, so the caller checks them (see `FastIdentifier`, `TYPE_NAME_PATTERN`).

What the Struct leaves to its callers (`schemas.fast_validation`): the event time and the
metadata (kept as they came, `Any`: checked by hand and by the model's own validator), the
string patterns, and generating `event_id` and `timestamp` when absent. Every defaulted
field defaults to `UNSET`, not `None`: `"event_id": null` is an error for the contract, and
which fields a message named is part of the event (`model_fields_set`).

Like the rest of the fast path it only accepts: a msgspec error means "let the model decide".
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from annotated_types import Ge, Le, MaxLen, MinLen
from msgspec import UNSET, UnsetType
from pydantic import StringConstraints
from pydantic.fields import FieldInfo

from schemas.events import Identifier, InteractionEvent, TypeName


def python_pattern(pattern: str) -> str:
    """The model's pattern as Python's `re` must read it to match what pydantic-core matches.

    msgspec runs `re.search`; the contract's patterns are anchored `^...$`, and Python's `$`
    also matches before a final newline where pydantic-core's Rust regex does not, so the
    closing `$` becomes `\\Z`.
    """
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"expected an anchored pattern, got {pattern!r}")
    return pattern[:-1] + r"\Z"


def _constraints(alias: Any) -> StringConstraints:
    constraints: StringConstraints = typing.get_args(alias)[1]
    return constraints


def _sized_string(alias: Any) -> Any:
    """An `Annotated[str, StringConstraints]` alias as a str of the same length bounds.

    Its pattern is left to the caller: msgspec calls Python's `re` for it, ~0.3 us per
    string, which was most of the Struct's cost (see `schemas.fast_validation`).
    """
    constraints = _constraints(alias)
    return Annotated[
        str, msgspec.Meta(min_length=constraints.min_length, max_length=constraints.max_length)
    ]


def _bound(field: FieldInfo, kind: type[Any], attribute: str) -> Any:
    """One bound (`Ge.ge`, `MaxLen.max_length`, ...) from a model field's metadata."""
    (value,) = [getattr(item, attribute) for item in field.metadata if isinstance(item, kind)]
    return value


_fields: Final = InteractionEvent.model_fields
FastIdentifier = _sized_string(Identifier)
"""Length bounds here; "no control characters" is `str.isprintable()` in the caller."""
IDENTIFIER_PATTERN: Final = _constraints(Identifier).pattern
TYPE_NAME_PATTERN: Final = python_pattern(str(_constraints(TypeName).pattern))
"""`TypeName`'s pattern for Python's `re` (`fullmatch`); the caller caches what matched."""
FastTypeName = str
FastTypes = Annotated[
    list[FastTypeName],
    msgspec.Meta(
        min_length=_bound(_fields["interaction_type"], MinLen, "min_length"),
        max_length=_bound(_fields["interaction_type"], MaxLen, "max_length"),
    ),
]
FastPosition = Annotated[
    int,
    msgspec.Meta(
        ge=_bound(_fields["position"], Ge, "ge"), le=_bound(_fields["position"], Le, "le")
    ),
]


class FastInteraction(msgspec.Struct, forbid_unknown_fields=True):
    """`InteractionEvent`'s fields (required ones first, as a Struct needs); see the module
    docstring for what each caller still checks."""

    feature_id: FastIdentifier  # type: ignore[valid-type]
    interaction_type: FastTypes | FastTypeName
    schema_version: Literal[1] | UnsetType = UNSET
    event_id: UUID | UnsetType = UNSET
    timestamp: Any = UNSET
    user_id: FastIdentifier | UnsetType | None = UNSET  # type: ignore[valid-type]
    anonymous_id: FastIdentifier | UnsetType | None = UNSET  # type: ignore[valid-type]
    session_id: FastIdentifier | UnsetType | None = UNSET  # type: ignore[valid-type]
    retriever_id: FastIdentifier | UnsetType | None = UNSET  # type: ignore[valid-type]
    position: FastPosition | UnsetType | None = UNSET
    metadata: Any = UNSET
    query_id: FastIdentifier | UnsetType | None = UNSET  # type: ignore[valid-type]


JSON_DECODER: Final = msgspec.json.Decoder(FastInteraction)
"""Reads Kafka message bytes straight into the Struct (the sink)."""

__all__ = [
    "IDENTIFIER_PATTERN",
    "JSON_DECODER",
    "TYPE_NAME_PATTERN",
    "UNSET",
    "FastInteraction",
    "UnsetType",
    "python_pattern",
]
