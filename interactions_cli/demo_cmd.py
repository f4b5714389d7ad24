"""`interactions demo`: the main job end to end on local defaults.

Foundation stage: publish a sample of seed-format events through the SDK, read every one
back from the real broker, and print what arrived.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from typing import Annotated

import typer
from confluent_kafka import Consumer
from rich.table import Table

from interactions_cli.context import console, get_settings
from producers import InteractionProducer
from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.wire import decode_interaction

_TYPES = (["click"], ["click", "long_view"], ["purchase"], ["skip"], ["add_to_cart"])


def _sample_events(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {
            "feature_id": f"doc_{rng.randrange(50):03d}",
            "interaction_type": rng.choice(_TYPES),
            "position": rng.randrange(10),
            "metadata": {"duration_ms": rng.randrange(200, 9000), "query": "wireless earbuds"},
            "user_id": f"user_{rng.randrange(20)}",
            "session_id": f"sess_{rng.randrange(40)}",
        }
        for _ in range(count)
    ]


def _read_back(
    settings: Settings, wanted: set[uuid.UUID], timeout_s: float
) -> list[InteractionEvent]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"demo-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    found: list[InteractionEvent] = []
    try:
        consumer.subscribe([settings.topic_interactions])
        deadline = time.monotonic() + timeout_s
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                value = msg.value()
                if msg.error() or value is None:
                    continue
                event = decode_interaction(value)
                if event.event_id in wanted:
                    found.append(event)
    finally:
        consumer.close()
    return found


def demo(
    events: Annotated[int, typer.Option(help="How many sample events to publish.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample.")] = 7,
) -> None:
    """Publish sample events with the SDK, read them back from Kafka, print a summary."""
    settings = get_settings()
    sample = [InteractionEvent.model_validate(e) for e in _sample_events(events, seed)]
    started = time.perf_counter()
    with InteractionProducer(settings) as producer:
        result = producer.send_many(sample)
    produce_s = time.perf_counter() - started
    if not result.ok:
        console.print(f"[red]not all events were delivered:[/red] {result.failed[:3]}")
        raise typer.Exit(1)
    console.print(
        f"published {result.delivered} events to '{settings.topic_interactions}' "
        f"in {produce_s:.2f} s (each acknowledged by Kafka)"
    )
    # Read back only what this run sent: event_ids are unique, the topic may hold older runs.
    wanted = {e.event_id for e in sample}
    started = time.perf_counter()
    found = _read_back(settings, wanted, timeout_s=60)
    read_s = time.perf_counter() - started
    by_id = {e.event_id: e for e in sample}
    identical = sum(1 for e in found if by_id[e.event_id] == e)
    _print_summary(sample, found, identical, read_s)
    if identical != len(sample):
        raise typer.Exit(1)


def _print_summary(
    sample: list[InteractionEvent], found: list[InteractionEvent], identical: int, read_s: float
) -> None:
    types = Counter(t for e in found for t in e.interaction_type)
    docs = Counter(e.feature_id for e in found)
    table = Table(title="demo summary", show_header=False)
    table.add_row("events sent", str(len(sample)))
    table.add_row("read back from Kafka", f"{len(found)} in {read_s:.2f} s")
    table.add_row("identical to what was sent", str(identical))
    table.add_row("by type", ", ".join(f"{t}={n}" for t, n in types.most_common()))
    table.add_row(
        "most interacted documents", ", ".join(f"{d} ({n})" for d, n in docs.most_common(5))
    )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
