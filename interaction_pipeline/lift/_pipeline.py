"""Send the lift experiment's events through the real pipeline and wait until ClickHouse has them.

One run gets its own topics, Redis key prefix, consumer groups and chDB folder (all suffixed
with the run id), so runs never mix with each other or with a demo. The HTTP collector, the
ClickHouse sink and (optionally) the popularity worker run as child processes through the
orchestration helpers the demo uses; chunks of events alternate between the SDK and HTTP, as
two backends would send them. The children are always stopped, and the topics deleted, on the
way out; the chDB folder stays, since the analytics read it afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from interaction_pipeline.http import free_port
from interaction_pipeline.orchestration import (
    Children,
    HttpSender,
    SdkSender,
    TrafficStats,
    chunked,
    consumer_lag,
    service_ready,
    wait_until,
)
from interaction_pipeline.stack import delete_topics, ensure_topics, pipeline_topics
from producers import InteractionProducer
from schemas.events import Event
from schemas.settings import Settings

READY_TIMEOUT_S: Final = 120.0
CATCH_UP_TIMEOUT_S: Final = 300.0
CHUNK_EVENTS: Final = 500


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """Where one run's data lives."""

    run_id: str
    settings: Settings
    folder: Path


def run_settings(base: Settings, run_id: str, folder: Path) -> Settings:
    """``base`` with this run's own topics, Redis prefix, consumer groups and chDB folder."""
    return base.replace(
        topics={
            "interactions": f"lift-{run_id}-interactions",
            "searches": f"lift-{run_id}-searches",
            "dead_letter": f"lift-{run_id}-dead-letter",
        },
        redis={"key_prefix": f"lift{run_id}"},
        clickhouse={"url": f"chdb://{(folder / 'chdb').resolve()}"},
        sink={"group_id": f"lift-sink-{run_id}", "batch_max_s": 0.5},
    )


def send_through_pipeline(
    run: PipelineRun,
    events: Iterable[Event],
    *,
    worker: bool = False,
    on_progress: Callable[[TrafficStats], None] | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[TrafficStats, dict[str, int]]:
    """Start serve + sink (+ worker), send every event, wait for lag 0, stop everything."""
    settings = run.settings
    ensure_topics(settings, pipeline_topics(settings))
    try:
        with Children(settings, run.folder / "logs") as children:
            port = free_port(settings.http.host)
            url = f"http://{settings.http.host}:{port}"
            say(
                "starting the HTTP collector and the ClickHouse sink"
                + (" and the worker" if worker else "")
            )
            started = [children.start("sink", ["sink", "--quiet"])]
            if worker:
                started.append(children.start("worker", ["worker", "--loglevel", "warning"]))
            started.append(
                children.start("serve", ["serve", "--port", str(port), "--log-level", "warning"])
            )
            wait_until(
                lambda: service_ready(url), f"{url}/readyz", READY_TIMEOUT_S, children=children
            )
            stats = _send(settings, url, events, children, on_progress)
            failures = stats.http.failures + stats.sdk.failures
            if failures:
                raise RuntimeError(f"{len(failures)} chunk(s) not accepted; first: {failures[0]}")
            say(f"{stats.events:,} events acknowledged by Kafka; waiting for the sink")
            lags = _catch_up(settings, children, worker)
            for child in reversed(started):
                code = children.stop(child)
                if code not in (0, -15):
                    raise RuntimeError(f"`{child.name}` exited with {code}; see {child.log_path}")
    finally:
        delete_topics(settings, pipeline_topics(settings))
    return stats, lags


def _api_headers(settings: Settings) -> dict[str, str]:
    keys = settings.http.api_keys
    return {"X-API-Key": keys[0].get_secret_value()} if keys else {}


def _send(
    settings: Settings,
    url: str,
    events: Iterable[Event],
    children: Children,
    on_progress: Callable[[TrafficStats], None] | None,
) -> TrafficStats:
    """Alternate chunks between the HTTP collector and the SDK; both wait for Kafka's ack."""
    stats = TrafficStats()
    started = time.monotonic()
    producer = InteractionProducer(settings)
    http = HttpSender(url, _api_headers(settings), stats.http)
    sdk = SdkSender(producer, stats.sdk)
    try:
        for n, chunk in enumerate(chunked(events, CHUNK_EVENTS)):
            (http if n % 2 == 0 else sdk)(chunk)
            if n % 10 == 0:
                children.check_alive()
            if on_progress is not None:
                on_progress(stats)
    finally:
        http.close()
        with contextlib.suppress(Exception):
            producer.close(60.0)
        stats.seconds = time.monotonic() - started
    return stats


def _catch_up(settings: Settings, children: Children, worker: bool) -> dict[str, int]:
    groups = {
        "sink": (settings.sink.group_id, [settings.topics.interactions, settings.topics.searches])
    }
    if worker:
        groups["worker"] = (settings.worker_group_id, [settings.topics.interactions])
    lags: dict[str, int] = {}

    def caught_up() -> bool:
        for name, (group, topics) in groups.items():
            lags[name] = consumer_lag(settings, group, topics)
        return not any(lags.values())

    wait_until(caught_up, "sink catching up", CATCH_UP_TIMEOUT_S, children=children, interval_s=0.5)
    return lags
