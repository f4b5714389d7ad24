"""Simulated searches as wire events: a SearchEvent per page, an InteractionEvent per reaction.

The conventions are the traffic simulator's (``producers.simulator``): a click carries its
dwell in ``metadata.duration_ms`` and is also a long_view when the dwell reaches the
threshold; a satisfying click may be followed by a purchase, an unsatisfying one by a
return_to_results; skips are reported for results passed over above a click. Every
interaction links to its search through ``query_id``; event ids are deterministic per run,
seed and search, so a resend is deduplicated downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Final

from interaction_pipeline.lift._clicks import Reaction, Search
from schemas.events import Event, InteractionEvent, SearchEvent
from schemas.interaction_types import CLICK, LONG_VIEW, PURCHASE, RETURN_TO_RESULTS, SKIP

_NAMESPACE: Final = uuid.UUID("8e0b6a34-6f0e-4b8a-9a51-2f4f0f6c1d27")


def retriever_tag(seed: int) -> str:
    """The retriever_id a seed's traffic carries: one pipeline run holds every seed, apart."""
    return f"lift-s{seed}"


def search_events(
    run_id: str,
    seed: int,
    searches: list[Search],
    query_texts: Mapping[str, str],
    *,
    total_hits: int,
    long_view_ms: int,
) -> Iterator[Event]:
    """Every event of a seed's searches, each search before its reactions."""
    for search in searches:
        yield from _one_search(run_id, seed, search, query_texts, total_hits, long_view_ms)


def _one_search(
    run_id: str,
    seed: int,
    search: Search,
    query_texts: Mapping[str, str],
    total_hits: int,
    long_view_ms: int,
) -> Iterator[Event]:
    text = query_texts[search.query_id]
    key = f"{run_id}:{seed}:{search.number}"
    query_id = f"lift-{run_id}-{seed}-{search.number}"
    base = {
        "user_id": f"user-{seed}-{search.user:05d}",
        "session_id": f"sess-{run_id}-{seed}-{search.session}",
        "retriever_id": retriever_tag(seed),
    }
    yield SearchEvent(
        event_id=uuid.uuid5(_NAMESPACE, f"{key}:s"),
        timestamp=_at(search.timestamp_ms),
        query_id=query_id,
        query=text,
        results=list(search.shown),
        total_hits=max(total_hits, len(search.shown)),
        **base,
    )
    for reaction in search.reactions:
        yield from _reaction_events(
            reaction, key, search.timestamp_ms, text, query_id, base, long_view_ms
        )


def _reaction_events(
    r: Reaction,
    key: str,
    search_ms: int,
    text: str,
    query_id: str,
    base: dict[str, str],
    long_view_ms: int,
) -> Iterator[InteractionEvent]:
    at_ms = search_ms + r.offset_ms
    common = {"feature_id": r.doc_id, "position": r.position, "query_id": query_id, **base}
    if r.kind == "skip":
        yield InteractionEvent(
            event_id=uuid.uuid5(_NAMESPACE, f"{key}:k{r.position}"),
            timestamp=_at(at_ms),
            interaction_type=[SKIP],
            metadata={"query": text},
            **common,
        )
        return
    types = [CLICK, LONG_VIEW] if r.dwell_ms >= long_view_ms else [CLICK]
    yield InteractionEvent(
        event_id=uuid.uuid5(_NAMESPACE, f"{key}:c{r.position}"),
        timestamp=_at(at_ms),
        interaction_type=types,
        metadata={"query": text, "duration_ms": r.dwell_ms},
        **common,
    )
    if r.purchased:
        yield InteractionEvent(
            event_id=uuid.uuid5(_NAMESPACE, f"{key}:p{r.position}"),
            timestamp=_at(at_ms + r.dwell_ms * 4 // 5),
            interaction_type=[PURCHASE],
            metadata={"query": text},
            **common,
        )
    elif not r.satisfied:
        yield InteractionEvent(
            event_id=uuid.uuid5(_NAMESPACE, f"{key}:r{r.position}"),
            timestamp=_at(at_ms + r.dwell_ms),
            interaction_type=[RETURN_TO_RESULTS],
            metadata={"query": text, "duration_ms": r.dwell_ms},
            **common,
        )


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
