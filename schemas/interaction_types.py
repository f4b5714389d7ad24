"""Interaction types: the seed's built-in signals, their kind and default weight.

Weights are strengths (always > 0); `polarity` says whether a type is evidence for (+1) or
against (-1) relevance. Keeping the two apart lets the boost stay monotonic (it only ever sums
strengths of the types a reranker asks for) while training export still knows which types are
negatives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

TYPE_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"
"""Custom types are lower-case identifiers: a letter, then letters, digits or '_', <= 64 chars."""

_TYPE_NAME_RE: Final = re.compile(TYPE_NAME_PATTERN)


class InteractionKind(StrEnum):
    POSITIVE = "positive"
    CONVERSION = "conversion"
    EXPLICIT = "explicit"
    NEGATIVE = "negative"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class InteractionType:
    name: str
    kind: InteractionKind
    weight: float
    polarity: Literal[1, -1] = 1

    @property
    def is_negative(self) -> bool:
        return self.polarity < 0


CLICK: Final = "click"
LONG_VIEW: Final = "long_view"
PURCHASE: Final = "purchase"
ADD_TO_CART: Final = "add_to_cart"
POSITIVE_FEEDBACK: Final = "positive_feedback"
NEGATIVE_FEEDBACK: Final = "negative_feedback"
SKIP: Final = "skip"
RETURN_TO_RESULTS: Final = "return_to_results"

BUILTIN_TYPES: Final[dict[str, InteractionType]] = {
    t.name: t
    for t in (
        InteractionType(CLICK, InteractionKind.POSITIVE, 1.0),
        InteractionType(LONG_VIEW, InteractionKind.POSITIVE, 2.0),
        InteractionType(ADD_TO_CART, InteractionKind.CONVERSION, 3.0),
        InteractionType(PURCHASE, InteractionKind.CONVERSION, 5.0),
        InteractionType(POSITIVE_FEEDBACK, InteractionKind.EXPLICIT, 2.0),
        InteractionType(NEGATIVE_FEEDBACK, InteractionKind.EXPLICIT, 2.0, polarity=-1),
        InteractionType(SKIP, InteractionKind.NEGATIVE, 0.5, polarity=-1),
        InteractionType(RETURN_TO_RESULTS, InteractionKind.NEGATIVE, 1.0, polarity=-1),
    )
}

CUSTOM_DEFAULT_WEIGHT: Final = 1.0
"""Weight of a custom type that configuration does not name."""

NEGATIVE_TYPES: Final = frozenset(n for n, t in BUILTIN_TYPES.items() if t.is_negative)
CONVERSION_TYPES: Final = frozenset(
    n for n, t in BUILTIN_TYPES.items() if t.kind is InteractionKind.CONVERSION
)


def is_valid_type_name(name: str) -> bool:
    return bool(_TYPE_NAME_RE.match(name))


class TypeRegistry:
    """Built-in types plus configured weights; unknown well-formed names are custom types."""

    def __init__(self, weight_overrides: dict[str, float] | None = None) -> None:
        self._types = dict(BUILTIN_TYPES)
        for name, weight in (weight_overrides or {}).items():
            if not is_valid_type_name(name):
                raise ValueError(f"type_weights: {name!r} is not a lower-case identifier")
            if weight <= 0:
                raise ValueError(f"type_weights: weight of {name!r} must be > 0, got {weight}")
            base = self._types.get(name)
            kind = base.kind if base else InteractionKind.CUSTOM
            polarity = base.polarity if base else 1
            self._types[name] = InteractionType(name, kind, float(weight), polarity)

    def get(self, name: str) -> InteractionType:
        found = self._types.get(name)
        if found is not None:
            return found
        return InteractionType(name, InteractionKind.CUSTOM, CUSTOM_DEFAULT_WEIGHT)

    def weight(self, name: str) -> float:
        return self.get(name).weight

    def weights(self, names: list[str] | tuple[str, ...]) -> dict[str, float]:
        return {n: self.weight(n) for n in names}

    @property
    def known(self) -> dict[str, InteractionType]:
        return dict(self._types)
