"""The popularity boost: how interaction counts re-rank a retriever's candidates.

For a candidate with weighted count `c` (the sum, over the configured types, of each type's
weight times its count in the window), with `m = boost_multiplier` and `K = half_saturation`:

    multiplier(c) = 1 + (m - 1) * (1 - K / (c + K))        # = 1 + (m - 1) * c / (c + K)
    boosted(s)    = s * multiplier   if s >= 0
                    s / multiplier   if s < 0              # raw dot products can be negative

So: no interactions gives exactly 1 (the score is unchanged); the multiplier grows with `c`,
reaches half the extra boost at `c = K`, and never exceeds `m`; a boost never lowers a score,
whatever its sign. Written as `1 - K / (c + K)` because each step is then a correctly rounded
monotonic operation, so monotonicity holds in floating point too, not only on paper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.errors import InvalidArgumentError
from schemas.interaction_types import CLICK, NEGATIVE_TYPES, PURCHASE, is_valid_type_name
from stream_processors.models import BoostedCandidate

DEFAULT_HALF_SATURATION: Final = 10.0


class BoostConfig(BaseModel):
    """The seed's `boost_by_interaction_count` stage config, plus an optional saturation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interaction_types: list[str] = Field(
        default_factory=lambda: [CLICK, PURCHASE],
        min_length=1,
        description="Types whose weighted counts drive the boost, e.g. ['click', 'purchase'].",
    )
    time_window_days: int | None = Field(
        None,
        ge=1,
        le=30,
        description="Window in days; None: settings.popularity.default_window_days.",
    )
    boost_multiplier: float = Field(
        1.2, ge=1.0, allow_inf_nan=False, description="Upper bound of the score multiplier."
    )
    half_saturation: float = Field(
        DEFAULT_HALF_SATURATION,
        gt=0,
        allow_inf_nan=False,
        description="Weighted count at which an item gets half of the extra boost.",
    )

    @field_validator("interaction_types")
    @classmethod
    def _positive_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_valid_type_name(name):
                raise ValueError(f"{name!r} is not a lower-case identifier")
            if name in NEGATIVE_TYPES:
                raise ValueError(
                    f"{name!r} is a negative signal; boosting by it would promote bad results"
                )
        return list(dict.fromkeys(value))


def multiplier(weighted_count: float, boost_multiplier: float, half_saturation: float) -> float:
    """Score multiplier in [1, boost_multiplier] for a weighted count >= 0 (see module doc)."""
    if weighted_count <= 0:
        return 1.0
    saturation = 1.0 - half_saturation / (weighted_count + half_saturation)
    return min(1.0 + (boost_multiplier - 1.0) * saturation, boost_multiplier)


def boosted_score(score: float, factor: float) -> float:
    """Apply a multiplier >= 1 so the score only ever moves up, for either sign."""
    return score * factor if score >= 0 else score / factor


def check_score(index: int, score: float) -> float:
    value = float(score)
    if not math.isfinite(value):
        raise InvalidArgumentError(
            f"candidates[{index}]: score must be a finite number, got {score!r}"
        )
    return value


def rerank(
    candidates: Sequence[tuple[str, float]],
    counts: Mapping[str, Mapping[str, int]],
    weights: Mapping[str, float],
    config: BoostConfig,
) -> list[BoostedCandidate]:
    """Boost each candidate by its weighted count; highest boosted score first, ties stable.

    `counts` maps feature_id to count per type (missing: none); `weights` gives each of
    `config.interaction_types` its weight.
    """
    types = config.interaction_types
    boosted: list[BoostedCandidate] = []
    for index, (feature_id, raw_score) in enumerate(candidates):
        score = check_score(index, raw_score)
        found = counts.get(feature_id, {})
        by_type = {t: int(found.get(t, 0)) for t in types}
        weighted = sum(weights[t] * by_type[t] for t in types)
        factor = multiplier(weighted, config.boost_multiplier, config.half_saturation)
        boosted.append(
            BoostedCandidate(
                feature_id, score, boosted_score(score, factor), factor, weighted, by_type
            )
        )
    boosted.sort(key=lambda c: c.boosted_score, reverse=True)
    return boosted
