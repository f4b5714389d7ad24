"""Explorer: apply the logged randomisation where a backend finalises a result list.

Why here and not in `InteractionProducer.send_search`: the swap must change what the user
sees, so it has to happen before the page is rendered, and the search event must then record
the order as shown. The Explorer does both in one call (`send_search`) or in two steps when
the backend renders objects rather than ids (`apply`, then `search_event`):

    explorer = Explorer(epsilon=0.05, depth=10)
    event = explorer.send_search(producer, {"query": q, "results": ranked_ids, "total_hits": n})
    render(event.results)                      # the order as shown, swap applied

    shown_items, record = explorer.apply(items, query_id)   # objects for the page
    producer.send_search(explorer.search_event(
        {"query_id": query_id, "query": q, "results": [i.id for i in items], "total_hits": n}
    ))                                          # same query_id: same swap on the ids

The decision is drawn from `seeded_rng(query_id)` (schemas.exploration), so it depends only on
the search id: the two lists of one search, or a retried request, get the same swap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import uuid4

from schemas.errors import InvalidArgumentError
from schemas.events import SearchEvent
from schemas.exploration import EXPLORATION_KEY, Exploration, explore, seeded_rng

if TYPE_CHECKING:
    from producers._producer import InteractionProducer

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Explorer:
    """With probability `epsilon`, swap one adjacent pair among the top `depth` results of a
    search, and record it in the search event (`metadata.exploration`)."""

    epsilon: float
    depth: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise InvalidArgumentError(f"epsilon: must be between 0 and 1, got {self.epsilon}")
        if not 2 <= self.depth <= 1_000:
            raise InvalidArgumentError(f"depth: must be between 2 and 1000, got {self.depth}")

    def apply(self, results: Sequence[T], query_id: str) -> tuple[list[T], Exploration | None]:
        """`results` in the order to show for search `query_id`, and the record to log (None
        for fewer than two results: nothing to swap, nothing recorded)."""
        return explore(results, self.epsilon, self.depth, seeded_rng(query_id))

    def search_event(self, event: SearchEvent | Mapping[str, Any]) -> dict[str, Any]:
        """A search event (results in ranked order) as it must be sent: a `query_id` (made
        here when missing), `results` in the order shown, the record in its metadata."""
        fields = event.model_dump() if isinstance(event, SearchEvent) else dict(event)
        metadata = dict(fields.get("metadata") or {})
        if EXPLORATION_KEY in metadata:
            raise InvalidArgumentError(
                "metadata: exploration: already present; a search is randomised once"
            )
        query_id = str(fields.get("query_id") or uuid4().hex)
        shown, record = self.apply(list(fields.get("results") or []), query_id)
        if record is not None:
            metadata.update(record.to_metadata())
        return {**fields, "query_id": query_id, "results": shown, "metadata": metadata}

    def send_search(
        self, producer: InteractionProducer, event: SearchEvent | Mapping[str, Any]
    ) -> SearchEvent:
        """Randomise and send; returns the event as sent (`results`: the order to show)."""
        return producer.send_search(self.search_event(event))
