"""Demo traffic: one simulated world, half of its sessions sent over HTTP, half with the SDK.

One simulator (so both halves share the catalogue, the queries and the true position bias)
produces events in order; chunks of them go alternately to an HTTP sender (POST to the
collector, like a backend in any language) and an SDK sender (InteractionProducer.send_many,
like a Python backend). Pacing keeps the total near the requested rate for the requested time;
each sender waits for Kafka's acknowledgement of every chunk, so "sent" means stored in Kafka.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

import httpx

from interaction_pipeline.http import INTERACTIONS_PATH, SEARCHES_PATH
from producers import InteractionProducer
from producers.simulator import Simulator
from schemas.events import Event, InteractionEvent, SearchEvent
from schemas.settings import Settings
from schemas.wire import encode

CHUNK_EVENTS: Final = 200
_QUEUE_CHUNKS: Final = 8
_HTTP_TIMEOUT_S: Final = 60.0


@dataclass(slots=True)
class PathStats:
    """What one path (HTTP or SDK) delivered: acknowledged events and failures."""

    interactions: int = 0
    searches: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return self.interactions + self.searches


@dataclass(slots=True)
class TrafficStats:
    http: PathStats = field(default_factory=PathStats)
    sdk: PathStats = field(default_factory=PathStats)
    seconds: float = 0.0
    searches_simulated: int = 0

    @property
    def events(self) -> int:
        return self.http.events + self.sdk.events

    def to_dict(self) -> dict[str, object]:
        def path(p: PathStats) -> dict[str, object]:
            return {
                "interactions": p.interactions,
                "searches": p.searches,
                "requests": p.requests,
                "failures": len(p.failures),
            }

        return {
            "seconds": round(self.seconds, 1),
            "events": self.events,
            "events_per_s": round(self.events / self.seconds, 1) if self.seconds else 0.0,
            "http": path(self.http),
            "sdk": path(self.sdk),
        }


def _split(chunk: list[Event]) -> tuple[list[SearchEvent], list[InteractionEvent]]:
    searches = [e for e in chunk if isinstance(e, SearchEvent)]
    interactions = [e for e in chunk if isinstance(e, InteractionEvent)]
    return searches, interactions


def _json_array(events: list[SearchEvent] | list[InteractionEvent]) -> bytes:
    """The wire encoding of each event, as one JSON array (what a backend would POST)."""
    return b"[" + b",".join(encode(e) for e in events) + b"]"


class HttpSender:
    """POSTs each chunk to the collector, as a backend in any language would."""

    def __init__(self, base_url: str, headers: dict[str, str], stats: PathStats) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=_HTTP_TIMEOUT_S, headers=headers)
        self._stats = stats

    def __call__(self, chunk: list[Event]) -> None:
        searches, interactions = _split(chunk)
        self._post(SEARCHES_PATH, searches)
        self._post(INTERACTIONS_PATH, interactions)

    def _post(self, path: str, events: list[SearchEvent] | list[InteractionEvent]) -> None:
        if not events:
            return
        stats = self._stats
        response = self._client.post(
            path, content=_json_array(events), headers={"content-type": "application/json"}
        )
        stats.requests += 1
        if response.status_code not in (200, 207):
            stats.failures.append(f"{response.status_code}: {response.text[:200]}")
            return
        accepted = int(response.json()["accepted"])
        if path == SEARCHES_PATH:
            stats.searches += accepted
        else:
            stats.interactions += accepted
        if accepted < len(events):
            stats.failures.append(f"{len(events) - accepted} event(s) refused by {path}")

    def close(self) -> None:
        self._client.close()


class SdkSender:
    """Sends each chunk with the SDK's bulk call, as a Python backend would."""

    def __init__(self, producer: InteractionProducer, stats: PathStats) -> None:
        self._producer = producer
        self._stats = stats

    def __call__(self, chunk: list[Event]) -> None:
        searches, interactions = _split(chunk)
        stats = self._stats
        for kind, events in ((SearchEvent, searches), (InteractionEvent, interactions)):
            if not events:
                continue
            result = self._producer.send_many(events, kind=kind, timeout=_HTTP_TIMEOUT_S)
            stats.requests += 1
            if kind is SearchEvent:
                stats.searches += result.delivered
            else:
                stats.interactions += result.delivered
            stats.failures.extend(f.reason for f in result.failed)
            stats.failures.extend("; ".join(p) for p in result.invalid.values())


def chunked(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """Events in lists of at most `size`, in order."""
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def drive(
    simulator: Simulator,
    settings: Settings,
    base_url: str,
    *,
    seconds: float,
    rate: float,
    headers: dict[str, str] | None = None,
    on_progress: Callable[[TrafficStats], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrafficStats:
    """Send the simulator's events, alternating chunks between HTTP and the SDK, at `rate`
    events/s for `seconds` (or until the simulation or `should_stop` ends it)."""
    stats = TrafficStats()
    lanes: list[queue.Queue[list[Event] | None]] = [queue.Queue(_QUEUE_CHUNKS) for _ in range(2)]
    errors: list[BaseException] = []
    producer = InteractionProducer(settings)
    http_send = HttpSender(base_url, headers or {}, stats.http)
    senders: list[Callable[[list[Event]], None]] = [http_send, SdkSender(producer, stats.sdk)]

    def lane(index: int) -> None:
        try:
            while (chunk := lanes[index].get()) is not None:
                senders[index](chunk)
        except BaseException as exc:  # reported by the caller; keep draining so put() ends
            errors.append(exc)
            while lanes[index].get() is not None:
                pass

    threads = [threading.Thread(target=lane, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    sent = 0
    try:
        for n, chunk in enumerate(chunked(simulator.events(), CHUNK_EVENTS)):
            elapsed = time.monotonic() - started
            if elapsed >= seconds or should_stop() or errors:
                break
            ahead = sent / rate - elapsed
            if ahead > 0:
                time.sleep(ahead)
            stats.searches_simulated += sum(isinstance(e, SearchEvent) for e in chunk)
            lanes[n % 2].put(chunk)
            sent += len(chunk)
            if on_progress is not None:
                on_progress(stats)
    finally:
        for lane_queue in lanes:
            lane_queue.put(None)
        for thread in threads:
            thread.join(_HTTP_TIMEOUT_S * 2)
        http_send.close()
        producer.flush(_HTTP_TIMEOUT_S)
        stats.seconds = time.monotonic() - started
    if errors:
        raise RuntimeError(f"sending traffic failed: {errors[0]}") from errors[0]
    if on_progress is not None:
        on_progress(stats)
    return stats
