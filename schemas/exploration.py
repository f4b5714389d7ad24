"""Logged exploration: a small, recorded randomisation of the shown order.

Why it exists: position bias is identifiable from logs only where the same document appears at
different positions. A deterministic ranker shows each document at one position per query, so
the click curve (and every counterfactual estimate that rests on it) is a guess. Swapping one
adjacent pair with a small probability, and recording that it happened, gives clean
interventions at a cost of a fraction of a click (docs/counterfactual.md).

The record travels in a search event's metadata under `exploration` (so it is stored and read
back by every existing path, ClickHouse included, without a new column):

    {"epsilon": 0.05, "depth": 10, "swap": 3}   # positions 3 and 4 were swapped
    {"epsilon": 0.05, "depth": 10, "swap": null}  # explored list, this time unchanged

`results` always holds the order as shown (after the swap). With probability `epsilon` one
pair (j, j + 1), j uniform in 0 .. depth - 2, is swapped; `depth` is the number of top
positions taking part (at most the list length).

Where it is applied: `producers.Explorer` (the Python SDK: decide, show, send the search event
with the record) and the boost route's `explore` option (the record comes back in the response
for the client to log). Both draw from `seeded_rng(query_id)`, so one search id always gets the
same decision: a retried request or a second list (the ids and the rendered items) follows the
same swap, and the record always matches what was shown.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

EXPLORATION_KEY: Final = "exploration"
"""Key of the record in `SearchEvent.metadata`."""

T = TypeVar("T")


class Exploration(BaseModel):
    """What the randomiser did to one result list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(ge=0.0, le=1.0, description="Probability of a swap.")
    depth: int = Field(ge=2, le=1_000, description="Top positions that take part.")
    swap: int | None = Field(
        None, ge=0, description="j: positions j and j + 1 were swapped; null: no swap."
    )

    @model_validator(mode="after")
    def _swap_inside_depth(self) -> Exploration:
        if self.swap is not None and self.swap > self.depth - 2:
            raise ValueError(f"swap: must be <= depth - 2 ({self.depth - 2}), got {self.swap}")
        return self

    @property
    def pair_probability(self) -> float:
        """Probability that one given adjacent pair inside `depth` was swapped."""
        return self.epsilon / (self.depth - 1)

    def to_metadata(self) -> dict[str, Any]:
        return {EXPLORATION_KEY: self.model_dump()}

    def apply(self, results: Sequence[T]) -> list[T]:
        """`results` (in ranked order) as this record says they were shown: the same swap on
        another list of the same search, e.g. the rendered items after deciding on the ids."""
        shown = list(results)
        if self.swap is not None:
            if self.swap + 1 >= len(shown):
                raise ValueError(
                    f"results: the record swaps positions {self.swap} and {self.swap + 1}, "
                    f"got {len(shown)} results"
                )
            shown[self.swap], shown[self.swap + 1] = shown[self.swap + 1], shown[self.swap]
        return shown


def seeded_rng(key: str) -> random.Random:
    """A generator determined by `key` (a search's query_id): the same search always gets the
    same decision. The digest spreads any id uniformly, so the swap stays independent of the
    documents as long as query ids are not chosen by looking at the results."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"ip-explore").digest()
    return random.Random(int.from_bytes(digest, "big"))


def explore(
    results: Sequence[T], epsilon: float, depth: int, rng: random.Random | None = None
) -> tuple[list[T], Exploration | None]:
    """The shown order and its record: with probability `epsilon`, swap one random adjacent
    pair among the first `depth` results. Lists shorter than two are returned unchanged with
    no record (nothing can be swapped)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: must be between 0 and 1, got {epsilon}")
    if depth < 2:
        raise ValueError(f"depth: must be >= 2, got {depth}")
    shown = list(results)
    effective = min(depth, len(shown))
    if effective < 2:
        return shown, None
    draw = rng or random
    swap: int | None = None
    if draw.random() < epsilon:
        swap = draw.randrange(effective - 1)
        shown[swap], shown[swap + 1] = shown[swap + 1], shown[swap]
    return shown, Exploration(epsilon=epsilon, depth=effective, swap=swap)


def exploration_of(metadata: Mapping[str, Any]) -> Exploration | None:
    """The record in a search event's metadata, if any (raises ValueError when malformed)."""
    value = metadata.get(EXPLORATION_KEY)
    if value is None:
        return None
    try:
        return Exploration.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            ".".join([EXPLORATION_KEY, *(str(p) for p in e["loc"])])
            + ": "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ValueError(problems) from None
