"""A console over a known dataset, and a browser to look at it.

`SeededConsole` fills this test's own stores with the traffic simulator's events (ClickHouse
rows as the sink writes them, Redis counts through the worker's own store), runs the real
service on loopback, then sends what the Events page shows: accepted events over HTTP,
refused ones (HTTP 422s), a dead letter on the DLQ topic, and a sink reject row. Every number
a chart should draw is then known from the simulator's configuration.

Chromium is Debian's (/usr/bin/chromium), driven by playwright without its own browser
download; the tests skip with a clear message when it is absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from interaction_pipeline.http import build_app, serve_in_thread
from producers.simulator import SimulationConfig, Simulator
from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from schemas.topics import (
    DLQ_HEADER_COMPONENT,
    DLQ_HEADER_REASON,
    DLQ_HEADER_SOURCE_OFFSET,
    DLQ_HEADER_SOURCE_PARTITION,
    DLQ_HEADER_SOURCE_TOPIC,
)
from sinks.ddl import REJECT_COLUMNS, REJECTS_TABLE
from tests.analytics_support import insert_events, migrated_backend
from tests.popularity_support import StoreDriver

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"
DOCS_SCREENSHOTS = frozenset({"console-events.png", "console-relevance.png"})
"""The screenshots docs/console.md shows (every page is still shot in the test's folder)."""

PAGE_SIZE = 10
"""Results per search in the simulated world: the CTR and bias charts draw this many points."""
CONFIG = SimulationConfig(
    seed=11, searches=3_000, days=13, page_size=PAGE_SIZE, users=300,
    retrievers=("ret_alpha", "ret_beta"),
)  # fmt: skip
BAD_EVENTS: list[dict[str, Any]] = [
    {"feature_id": "doc_bad_1", "interaction_type": "click", "position": -1, "user_id": "u_dbg"},
    {"feature_id": "", "interaction_type": ["click"], "user_id": "u_dbg"},
    {"feature_id": "doc_bad_3", "interaction_type": ["Not A Type!"], "user_id": "u_other"},
]
"""Refused by the collector: one HTTP 422 row each, with the field named."""
DEAD_LETTER = b'{"feature_id": "doc_dlq", "interaction_type": 42}'
SINK_REJECT = b'{"feature_id": "doc_sink", "position": "third"}'


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's (`apt-get install -y chromium`) or "
            "set CHROMIUM=/path/to/chromium to run the browser tests"
        )
    pytest.importorskip("playwright", reason="pip install playwright (the dev extra has it)")
    return CHROMIUM


@dataclass
class SeededConsole:
    settings: Settings
    url: str
    simulator: Simulator
    accepted_ids: list[str] = field(default_factory=list)


def _simulated(now: datetime) -> Simulator:
    return Simulator(dataclasses.replace(CONFIG, end=now))


def _load_stores(settings: Settings, simulator: Simulator, now: datetime) -> None:
    events = list(simulator.events())
    backend = migrated_backend(settings)
    try:
        insert_events(backend, events)
        backend.insert(
            REJECTS_TABLE,
            REJECT_COLUMNS,
            [(settings.topics.interactions, 0, 7, b"doc_sink", SINK_REJECT,
              "position: must be an integer, got 'third'", now)],
        )  # fmt: skip
    finally:
        backend.close()
    driver = StoreDriver(settings)
    try:
        recent = [
            e
            for e in events
            if isinstance(e, InteractionEvent) and e.timestamp > now - timedelta(days=6)
        ]
        driver.apply(recent, now)
    finally:
        driver.close()


def _dead_letter(settings: Settings) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(
        settings.topics.dead_letter,
        value=DEAD_LETTER,
        key=b"doc_dlq",
        headers=[
            (DLQ_HEADER_REASON, b"interaction_type: must be a string or a list of strings"),
            (DLQ_HEADER_SOURCE_TOPIC, settings.topics.interactions.encode()),
            (DLQ_HEADER_SOURCE_PARTITION, b"0"),
            (DLQ_HEADER_SOURCE_OFFSET, b"42"),
            (DLQ_HEADER_COMPONENT, b"worker"),
        ],
    )
    assert producer.flush(30) == 0


def _send(url: str, simulator: Simulator, headers: dict[str, str]) -> list[str]:
    """A few of the simulated events over HTTP (accepted), then the bad ones (refused)."""
    searches, clicks = [], []
    for event in simulator.events():
        bucket = searches if isinstance(event, SearchEvent) else clicks
        if len(bucket) < 20:
            bucket.append(event.model_dump(mode="json"))
        if len(searches) >= 20 and len(clicks) >= 20:
            break
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        ok = http.post("/v1/retrievers/searches", json=searches)
        assert ok.status_code == 200, ok.text
        ok2 = http.post("/v1/retrievers/interactions", json=clicks)
        assert ok2.status_code == 200, ok2.text
        refused = http.post("/v1/retrievers/interactions", json=BAD_EVENTS)
        assert refused.status_code == 422, refused.text
        body = http.post(
            "/v1/retrievers/interactions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert body.status_code == 422
    return [*ok.json()["event_ids"], *ok2.json()["event_ids"]]


@contextlib.contextmanager
def seeded_console(
    settings: Settings, headers: dict[str, str] | None = None
) -> Iterator[SeededConsole]:
    now = datetime.now(UTC)
    simulator = _simulated(now)
    _load_stores(settings, simulator, now)
    _dead_letter(settings)
    with serve_in_thread(build_app(settings)) as url:
        console = SeededConsole(settings, url, simulator)
        console.accepted_ids = _send(url, simulator, headers or {})
        yield console


def keep_screenshot(path: Path, name: str) -> None:
    """Screenshots go to the test's folder; UPDATE_SCREENSHOTS=1 also refreshes docs/img."""
    if UPDATE_SCREENSHOTS and name in DOCS_SCREENSHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / name)
