"""Helpers for the analytics tests: a migrated chDB at a temporary path and event builders.

Rows go straight into ClickHouse through the sinks' backend interface (no Kafka), built
with the same row functions the sink uses, so the analytics read exactly what the sink writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from sinks import ClickHouseBackend, migrate, open_backend
from sinks.ddl import (
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    SEARCH_EVENT_COLUMNS,
    SEARCH_EVENTS_TABLE,
    interaction_row,
    search_event_row,
)


def chdb_settings(folder: Path) -> Settings:
    return Settings(clickhouse_url=f"chdb://{folder}")


def migrated_backend(settings: Settings) -> ClickHouseBackend:
    backend = open_backend(settings)
    migrate(backend)
    return backend


def insert_events(
    backend: ClickHouseBackend, events: Iterable[SearchEvent | InteractionEvent]
) -> tuple[int, int]:
    """Insert events as the sink would; returns (searches, interactions) inserted."""
    searches: list[tuple[Any, ...]] = []
    interactions: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, SearchEvent):
            searches.append(search_event_row(event))
        else:
            interactions.append(interaction_row(event))
        if len(searches) + len(interactions) >= 50_000:
            backend.insert(SEARCH_EVENTS_TABLE, SEARCH_EVENT_COLUMNS, searches)
            backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, interactions)
            searches, interactions = [], []
    backend.insert(SEARCH_EVENTS_TABLE, SEARCH_EVENT_COLUMNS, searches)
    backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, interactions)
    return (
        backend.query(f"SELECT count() AS n FROM {SEARCH_EVENTS_TABLE}")[0]["n"],
        backend.query(f"SELECT count() AS n FROM {INTERACTIONS_TABLE}")[0]["n"],
    )


def at(text: str, seconds: float = 0.0) -> datetime:
    """'2025-01-10 10:00' (UTC) plus some seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) + timedelta(seconds=seconds)


def search(
    query_id: str,
    query: str,
    results: list[str],
    when: datetime,
    retriever: str = "r1",
    total_hits: int | None = None,
    session: str = "s",
) -> SearchEvent:
    return SearchEvent(
        query_id=query_id,
        query=query,
        results=results,
        total_hits=len(results) * 3 if total_hits is None else total_hits,
        timestamp=when,
        retriever_id=retriever,
        session_id=session,
        user_id="u1",
    )


def interaction(
    feature_id: str,
    types: list[str],
    position: int | None,
    when: datetime,
    *,
    query_id: str | None = None,
    query: str | None = None,
    duration_ms: int | None = None,
    retriever: str = "r1",
    session: str = "s",
) -> InteractionEvent:
    metadata: dict[str, Any] = {}
    if query is not None:
        metadata["query"] = query
    if duration_ms is not None:
        metadata["duration_ms"] = duration_ms
    return InteractionEvent(
        feature_id=feature_id,
        interaction_type=types,
        position=position,
        metadata=metadata,
        timestamp=when,
        query_id=query_id,
        retriever_id=retriever,
        session_id=session,
        user_id="u1",
    )


def hand_dataset() -> list[SearchEvent | InteractionEvent]:
    """The hand-built dataset the report and export tests work their answers out on.
    Every report metric on a small hand-built dataset, against answers worked out by hand.

    The dataset (times UTC; positions 0-based; r1 unless said otherwise):

    week 2 (2025-01-08 .. 01-15)
      S1 "Red Shoes " [A B C D] 01-10 10:00  click B@1 +4s 10 s dwell; purchase B@1 +20s
      S2 "red shoes"  [A B C D] 01-10 11:00  click A@0 +2s 1 s; return A@0 +3s; skip B@1 +9s;
                                             click C@2 +10s 5 s   (no metadata.query: query_id only)
      S3 "red shoes"  [B A C D] 01-11 09:00  negative_feedback D@3 +30s
      S4 "blue hat"   [E F]     01-11 10:00  click F@1 +6s
      S5 "unicorn", S6 "Unicorn": zero results
      r2: S7 "red shoes" [A] click A@0 +1s; S11 "red shoes" [Y A] click A@1 +2s
      r3 (interactions only, "green sofa"): session x: skip H@0, click G@1 6 s, purchase G@1,
          click K@2 0.5 s; session y: click H@0
    week 1 (2025-01-01 .. 01-08)
      S8 "red shoes"  [A B C D] 01-03 10:00  click A@0 +1s 8 s dwell; purchase A@0 +30s
      S9 "blue hat"   [E F]     01-03 11:00  click E@0 +1s
    """
    shoes, hat = "red shoes", "blue hat"
    t1, t2, t3, t4 = (at(f"2025-01-{d}") for d in ("10 10:00", "10 11:00", "11 09:00", "11 10:00"))
    t8, t9 = at("2025-01-03 10:00"), at("2025-01-03 11:00")
    t7, t11 = at("2025-01-12 10:00"), at("2025-01-12 11:00")
    tx, ty = at("2025-01-10 12:00"), at("2025-01-10 13:00")
    abcd = ["A", "B", "C", "D"]
    return [
        search("S1", "Red Shoes ", abcd, t1),
        interaction("B", ["click"], 1, at("2025-01-10 10:00", 4), query_id="S1", query=shoes,
                    duration_ms=10_000),
        interaction("B", ["purchase"], 1, at("2025-01-10 10:00", 20), query_id="S1", query=shoes),
        search("S2", shoes, abcd, t2),
        interaction("A", ["click"], 0, at("2025-01-10 11:00", 2), query_id="S2", duration_ms=1_000),
        interaction("A", ["return_to_results"], 0, at("2025-01-10 11:00", 3), query_id="S2"),
        interaction("B", ["skip"], 1, at("2025-01-10 11:00", 9), query_id="S2"),
        interaction("C", ["click"], 2, at("2025-01-10 11:00", 10), query_id="S2",
                    duration_ms=5_000),
        search("S3", shoes, ["B", "A", "C", "D"], t3),
        interaction("D", ["negative_feedback"], 3, at("2025-01-11 09:00", 30), query_id="S3",
                    query=shoes),
        search("S4", hat, ["E", "F"], t4),
        interaction("F", ["click"], 1, at("2025-01-11 10:00", 6), query_id="S4", query=hat),
        search("S5", "unicorn", [], at("2025-01-12 08:00"), total_hits=0),
        search("S6", "Unicorn", [], at("2025-01-12 09:00"), total_hits=0),
        search("S8", shoes, abcd, t8),
        interaction("A", ["click"], 0, at("2025-01-03 10:00", 1), query_id="S8", query=shoes,
                    duration_ms=8_000),
        interaction("A", ["purchase"], 0, at("2025-01-03 10:00", 30), query_id="S8", query=shoes),
        search("S9", hat, ["E", "F"], t9),
        interaction("E", ["click"], 0, at("2025-01-03 11:00", 1), query_id="S9", query=hat),
        search("S7", shoes, ["A"], t7, retriever="r2"),
        interaction("A", ["click"], 0, at("2025-01-12 10:00", 1), query_id="S7", query=shoes,
                    retriever="r2"),
        search("S11", shoes, ["Y", "A"], t11, retriever="r2"),
        interaction("A", ["click"], 1, at("2025-01-12 11:00", 2), query_id="S11", query=shoes,
                    retriever="r2"),
        interaction("H", ["skip"], 0, tx, query="green sofa", retriever="r3", session="x"),
        interaction("G", ["click"], 1, at("2025-01-10 12:00", 5), query="green sofa",
                    duration_ms=6_000, retriever="r3", session="x"),
        interaction("G", ["purchase"], 1, at("2025-01-10 12:00", 30), query="green sofa",
                    retriever="r3", session="x"),
        interaction("K", ["click"], 2, at("2025-01-10 12:00", 60), query="green sofa",
                    duration_ms=500, retriever="r3", session="x"),
        interaction("H", ["click"], 0, ty, query="green sofa", retriever="r3", session="y"),
    ]  # fmt: skip
