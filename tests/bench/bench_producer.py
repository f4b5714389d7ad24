"""The Python SDK's `send()` against raw confluent-kafka producing the same events.

    python tests/bench/bench_producer.py [--events 100000] [--rounds 3]

Assumes the local stack is up (`make stack-up`). Ours: `InteractionProducer.send()` of
seed-shaped events given as dicts (validated, given an event_id and a timestamp, encoded,
keyed), one `flush()` at the end. Baseline: a bare `confluent_kafka.Producer` with the SDK's
own librdkafka settings (`producer_config`: idempotent, acks=all, lz4, the same linger),
producing the same events already serialised and keyed, `poll(0)` after each as the SDK
does, one `flush()` at the end. So the difference is the SDK's per-event Python work.

The two alternate for `--rounds` rounds (the machine is shared: interleaving exposes both to
the same load) on topics of their own; the figures are medians. Target: ours >= 0.5 x the
baseline. The last line is the figures as JSON; they are recorded in
benchmarks/results/producer.jsonl.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from interaction_pipeline.results import load_now  # noqa: E402
from producers import InteractionProducer  # noqa: E402
from producers._config import producer_config  # noqa: E402
from schemas.events import InteractionEvent  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.topics import interaction_key  # noqa: E402
from schemas.wire import encode  # noqa: E402
from tests.bench.results import record  # noqa: E402
from tests.services import cleanup_unique, load_stack  # noqa: E402

_TYPES = (["click"], ["click", "long_view"], ["purchase"], ["skip"], ["add_to_cart"])
TARGET_RATIO = 0.5


def seed_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """What a backend sends: the seed API's fields, no event_id or timestamp."""
    rng = random.Random(seed)
    return [
        {
            "feature_id": f"doc_{rng.randrange(5000):05d}",
            "interaction_type": rng.choice(_TYPES),
            "position": rng.randrange(20),
            "metadata": {"duration_ms": rng.randrange(200, 9000), "query": "wireless earbuds"},
            "user_id": f"user_{rng.randrange(2000)}",
            "session_id": f"sess_{rng.randrange(4000)}",
        }
        for _ in range(count)
    ]


def run_sdk(settings: Settings, events: list[dict[str, Any]]) -> tuple[float, float]:
    """(events/s, CPU us per event of this process, librdkafka's threads included)."""
    with InteractionProducer(settings) as producer:
        producer.send(events[0])  # connect (and the idempotent producer's id) first
        producer.flush()
        started, cpu = time.perf_counter(), time.process_time()
        for event in events:
            producer.send(event)
        producer.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return len(events) / elapsed, cpu / len(events) * 1e6


def run_raw(settings: Settings, messages: list[tuple[bytes, bytes]]) -> tuple[float, float]:
    producer = Producer(producer_config(settings))
    topic = settings.topics.interactions
    produce, poll = producer.produce, producer.poll
    produce(topic, value=messages[0][0], key=messages[0][1])
    producer.flush()
    started, cpu = time.perf_counter(), time.process_time()
    for value, key in messages:
        while True:
            try:
                produce(topic, value=value, key=key)
                break
            except BufferError:
                poll(0.05)
        poll(0)
    remaining = producer.flush(60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if remaining:
        raise RuntimeError(f"baseline: {remaining} messages unacknowledged")
    return len(messages) / elapsed, cpu / len(messages) * 1e6


def _settings(base: Settings, label: str) -> Settings:
    suffix = f"{label}-{uuid.uuid4().hex[:8]}"
    return base.replace(
        **{
            "topic_interactions": f"bench-producer-i-{suffix}",
            "topic_searches": f"bench-producer-s-{suffix}",
            "topic_dead_letter": f"bench-producer-d-{suffix}",
            "redis_key_prefix": f"bp{suffix}",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="A note recorded with the figures.")
    args = parser.parse_args()
    load_before = load_now()

    base = Settings()
    ours_settings, raw_settings = _settings(base, "sdk"), _settings(base, "raw")
    stack = load_stack()
    for settings in (ours_settings, raw_settings):
        stack.ensure_topics(settings, stack.pipeline_topics(settings))
    events = seed_events(args.events)
    # The baseline's events: the same ones, validated and serialised ahead of the clock.
    prepared = [InteractionEvent.model_validate(e) for e in events]
    messages = [(encode(e), interaction_key(e)) for e in prepared]

    ours: list[float] = []
    raw: list[float] = []
    ours_cpu: list[float] = []
    raw_cpu: list[float] = []
    try:
        for index in range(args.rounds):
            rate, cpu = run_sdk(ours_settings, events)
            ours.append(rate)
            ours_cpu.append(cpu)
            rate, cpu = run_raw(raw_settings, messages)
            raw.append(rate)
            raw_cpu.append(cpu)
            print(
                f"round {index + 1}: SDK send() {ours[-1]:>9,.0f} ev/s "
                f"({ours_cpu[-1]:.1f} CPU us/ev)"
                f"   raw confluent-kafka {raw[-1]:>9,.0f} ev/s ({raw_cpu[-1]:.1f} CPU us/ev)"
                f"   ratio {ours[-1] / raw[-1]:.2f}"
            )
    finally:
        for settings in (ours_settings, raw_settings):
            cleanup_unique(settings)

    ratios = [o / r for o, r in zip(ours, raw, strict=True)]
    figures: dict[str, Any] = {
        "events": args.events,
        "rounds": args.rounds,
        "sdk_send_events_per_s": statistics.median(ours),
        "raw_confluent_events_per_s": statistics.median(raw),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "sdk_rounds": ours,
        "raw_rounds": raw,
        # CPU time is steadier than wall time on a shared machine: the ratio of CPU per event
        # (raw / SDK) says what the ratio of rates would be with a core to each.
        "sdk_cpu_us_per_event": statistics.median(ours_cpu),
        "raw_cpu_us_per_event": statistics.median(raw_cpu),
        "cpu_ratio": statistics.median(r / o for o, r in zip(ours_cpu, raw_cpu, strict=True)),
    }
    print(
        f"median: SDK {figures['sdk_send_events_per_s']:,.0f} ev/s, raw "
        f"{figures['raw_confluent_events_per_s']:,.0f} ev/s, ratio {figures['ratio']:.2f} "
        f"(target >= {TARGET_RATIO}); CPU per event: SDK {figures['sdk_cpu_us_per_event']:.1f} us, "
        f"raw {figures['raw_cpu_us_per_event']:.1f} us, ratio {figures['cpu_ratio']:.2f}"
    )
    rounded = {
        k: [round(x, 1) for x in v] if isinstance(v, list) else round(v, 3)
        for k, v in figures.items()
    }
    if args.label:
        rounded["label"] = args.label
    print(orjson.dumps({"bench": "producer", **rounded}).decode())
    record("producer", rounded, load_before=load_before)


if __name__ == "__main__":
    main()
