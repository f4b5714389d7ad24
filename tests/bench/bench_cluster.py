"""Worker throughput on the clustered stack: one worker, two workers, one worker without
WAIT, and one worker on the single-node stack, measured in the same run for comparison.

    interactions stack up                # the single-node stack, for the comparison
    python tests/bench/bench_cluster.py [--events 60000] [--partitions 8]

The clustered stack (`interactions stack up --cluster`) is used when running, else started
for the run and stopped after it.

Each case prefills its own topic (replication factor 3 on the cluster) with the same events,
then starts the workers (their own group and Redis prefix) and reads their
`popularity_events_applied_total`; throughput is the rate between 10 % and 90 % of the events
applied, so start-up and the last partial batches do not count. On the cluster the worker
runs as deployed there: REDIS_CLUSTER=true and REDIS_WAIT_REPLICAS=1 (a WAIT per master and
write pipeline). Load average before and after is recorded with the figures: on a 2-core
machine the workers, three brokers and six Redis servers share the same two cores.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from interaction_pipeline.stack import cluster  # noqa: E402
from schemas.events import InteractionEvent  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.wire import encode  # noqa: E402
from stream_processors.connection import redis_client  # noqa: E402
from tests.bench.results import record  # noqa: E402
from tests.popularity_support import WorkerProcess  # noqa: E402
from tests.services import load_stack  # noqa: E402

DOCS = 5_000
USERS = 1_000
TIMEOUT_S = 400.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def events(count: int) -> list[InteractionEvent]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    types = ["click", "purchase", "add_to_cart", "long_view"]
    return [
        InteractionEvent(
            feature_id=f"doc_{rng.randrange(DOCS)}",
            interaction_type=[rng.choice(types)],
            user_id=f"u{rng.randrange(USERS)}",
            timestamp=now - timedelta(minutes=rng.randrange(1, 3 * 24 * 60)),
        )
        for _ in range(count)
    ]


def prefill(settings: Settings, stream: list[InteractionEvent], partitions: int) -> None:
    from confluent_kafka import Producer

    stack = load_stack()
    stack.ensure_topics(settings, [settings.topics.interactions], partitions=partitions)
    stack.ensure_topics(settings, [settings.topics.dead_letter], partitions=1)
    producer = Producer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 20, "acks": "all"}
    )
    for e in stream:
        while True:
            try:
                producer.produce(
                    settings.topics.interactions, key=e.feature_id.encode(), value=encode(e)
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu_s(settings: Settings) -> float:
    """CPU seconds of every Redis master (user + system), from INFO cpu."""
    client: Any = redis_client(settings)
    try:
        if not settings.redis.cluster:
            info = client.info("cpu")
            return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        total = 0.0
        for node in client.get_primaries():
            info = client.info("cpu", target_nodes=node)
            total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        return total
    finally:
        client.close()


def run_case(settings: Settings, workers: int, total: int, env: dict[str, str]) -> dict[str, Any]:
    """Throughput between 10 % and 90 % applied, and the CPU the workers and the Redis
    masters spent per event in that span (robust to a loaded machine, unlike the rate)."""
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-cluster-{uuid.uuid4().hex[:6]}"
    logs.mkdir()
    procs = [
        WorkerProcess(settings, logs / f"worker{n}.log", WORKER_BATCH_SIZE="5000", **env)
        for n in range(workers)
    ]
    for proc in procs:
        proc.start()
    marks: dict[float, tuple[float, float, float]] = {}
    deadline = time.monotonic() + TIMEOUT_S

    def sample() -> tuple[float, float, float]:
        worker_cpu = sum(_process_cpu_s(p.proc.pid) for p in procs if p.proc is not None)
        return time.monotonic(), worker_cpu, _redis_cpu_s(settings)

    try:
        while time.monotonic() < deadline and 0.9 not in marks:
            applied = sum(p.metrics().get("popularity_events_applied_total", 0.0) for p in procs)
            for q in (0.1, 0.9):
                if q not in marks and applied >= q * total:
                    marks[q] = sample()
            time.sleep(0.1)
    finally:
        for proc in procs:
            proc.stop()
    if 0.9 not in marks:
        raise SystemExit(f"{workers} worker(s) did not apply 90% within {TIMEOUT_S:.0f}s")
    events = 0.8 * total
    (t0, w0, r0), (t1, w1, r1) = marks[0.1], marks[0.9]
    return {
        "workers": workers,
        "events_s": round(events / (t1 - t0)),
        "worker_cpu_us_per_event": round((w1 - w0) * 1e6 / events, 1),
        "redis_cpu_us_per_event": round((r1 - r0) * 1e6 / events, 1),
    }


def delete_keys(settings: Settings) -> None:
    client = redis_client(settings)
    try:
        keys = list(client.scan_iter(match=f"{settings.redis.key_prefix}:*", count=5_000))
        for start in range(0, len(keys), 1_000):
            client.delete(*keys[start : start + 1_000])
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--no-single", action="store_true", help="skip the single-node case")
    args = parser.parse_args()
    load_before = list(os.getloadavg())
    base = Settings()
    layout = cluster.ClusterLayout.from_settings(base)
    running = all(cluster.kafka_pid(layout, n) for n in range(layout.kafka_brokers))
    if not running:  # `make bench` starts only the single-node stack
        say("starting the clustered stack (stopped again at the end)")
        cluster.up(base, layout)
    try:
        run_cases(args, base, layout, load_before)
    finally:
        if not running:
            cluster.down(layout)


def run_cases(
    args: argparse.Namespace,
    base: Settings,
    layout: cluster.ClusterLayout,
    load_before: list[float],
) -> None:
    clustered = layout.settings(base).replace(redis={"wait_replicas": 1})
    stream = events(args.events)
    no_wait = {"REDIS_WAIT_REPLICAS": "0"}  # what the WAIT per write pipeline costs
    cases: list[tuple[str, Settings, int, dict[str, str]]] = [
        ("cluster_1_worker", clustered, 1, layout.environment()),
        ("cluster_2_workers", clustered, 2, layout.environment()),
        ("cluster_1_worker_no_wait", clustered, 1, layout.environment() | no_wait),
    ]
    if not args.no_single:
        cases.append(("single_node_1_worker", base, 1, {}))
    figures: dict[str, Any] = {
        "events": args.events,
        "partitions": args.partitions,
        "message_bytes": round(sum(len(encode(e)) for e in stream) / len(stream)),
    }
    for name, settings, workers, env in cases:
        suffix = uuid.uuid4().hex[:8]
        settings = settings.replace(
            topic_interactions=f"bench-cl-{suffix}",
            topic_dead_letter=f"bench-cl-dlq-{suffix}",
            redis_key_prefix=f"bc{suffix}",
        )
        say(f"{name}: prefilling {args.events} events")
        prefill(settings, stream, args.partitions)
        figures[name] = run_case(settings, workers, args.events, env)
        say(f"{name}: {figures[name]['events_s']} events/s")
        load_stack().delete_topics(
            settings, [settings.topics.interactions, settings.topics.dead_letter]
        )
        delete_keys(settings)
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    record("cluster", figures, load_before=load_before)
    print(figures)


if __name__ == "__main__":
    main()
