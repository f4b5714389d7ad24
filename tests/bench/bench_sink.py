"""Sink throughput (Kafka -> chDB) against a bulk insert of the same rows; SELECT latency.

    python tests/bench/bench_sink.py [--events 600000] [--rows 10000000] [--repeat 3]
                                     [--decode-workers N] [--tombstones 1000]

Assumes the local stack is up (`make stack-up`); uses topics, a consumer group and a chDB
folder of its own, and removes them afterwards.

1. Throughput. `--events` valid interaction events are put on a fresh topic (4 partitions);
   the sink (`ClickHouseSink`, default batch settings) consumes them into chDB. Measured
   from the first message read to the last batch committed, i.e. decode, validate, insert,
   commit; the consumer group's start-up (and the decode workers' start) is reported apart.
   Baseline: the same events, decoded beforehand (not timed), inserted straight into chDB
   as one bulk insert through the same backend with the sink's insert settings (no folding
   of the block on insert). For comparison with earlier figures, also the same bulk insert
   with ClickHouse's default (folding on insert). Sink runs (each with a fresh consumer
   group) and baseline inserts alternate `--repeat` times, since the machine's load drifts;
   figures are medians. Targets: sink >= 0.6 x baseline (issue 20; the sink issue asked
   0.5) and >= 50,000 rows/s. The default 600,000 events make 12 batches of 50,000: the
   sink's pipeline (decode the next batch while inserting this one) then runs at its steady
   rate, as a running sink does; with 4 batches the first decode and the last insert, which
   nothing overlaps, weigh a quarter (200,000 events measured 0.48-0.52 x where 600,000
   measured 0.53-0.61 x).
   `--tombstones N`: every round also runs the sink with N forgotten users' tombstones
   (user ids no bench event carries, so every row is still stored: what is measured is the
   check every batch pays), served from memory as the sink's cached view is;
   `ratio_tombstones` is against the same round's baseline, `tombstone_cost` the sink's
   rate with them over its rate without, per round.
2. Latency of the seed's reads on `--rows` rows generated inside chDB (INSERT ... SELECT
   FROM numbers(), not via Kafka): `?feature_id=` (page of 50) and `?user_id=&limit=50`,
   through `InteractionQueries`, median and p95 over distinct ids. `--rows 0` skips it.

The last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from schemas.events import InteractionEvent  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.suppression import MIN_MS, Range, Tombstones, user_subject  # noqa: E402
from schemas.topics import interaction_key  # noqa: E402
from schemas.wire import decode_interaction, encode  # noqa: E402
from sinks import (  # noqa: E402
    ClickHouseBackend,
    ClickHouseSink,
    InteractionFilter,
    InteractionQueries,
    migrate,
    open_backend,
)
from sinks.ddl import (  # noqa: E402
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    interaction_row,
)
from tests.bench.results import record  # noqa: E402
from tests.services import load_stack  # noqa: E402

_TYPES = (["click"], ["click", "long_view"], ["purchase"], ["skip"], ["add_to_cart"])


def _payloads(count: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(6)
    out = []
    for _ in range(count):
        event = InteractionEvent(
            feature_id=f"doc_{rng.randrange(5000):05d}",
            interaction_type=rng.choice(_TYPES),
            position=rng.randrange(20),
            metadata={"duration_ms": rng.randrange(200, 9000), "query": "wireless earbuds"},
            user_id=f"user_{rng.randrange(2000)}",
            session_id=f"sess_{rng.randrange(4000)}",
        )
        out.append((interaction_key(event), encode(event)))
    return out


def _publish(settings: Settings, payloads: list[tuple[bytes, bytes]]) -> None:
    load_stack().ensure_topics(
        settings, [settings.topics.interactions, settings.topics.searches], partitions=4
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "linger.ms": 20,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    for key, value in payloads:
        while True:
            try:
                producer.produce(settings.topics.interactions, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError("Kafka did not acknowledge every benchmark message")


def _delete_topics(settings: Settings) -> None:
    names = [settings.topics.interactions, settings.topics.searches]
    for problem in load_stack().delete_topics(settings, names, timeout=30):
        print(f"(could not delete a bench topic: {problem})", file=sys.stderr)


def _count(backend: ClickHouseBackend) -> int:
    return int(backend.query(f"SELECT count() AS n FROM {INTERACTIONS_TABLE}")[0]["n"])


class StaticTombstones:
    """A `TombstoneSource` holding `count` tombstones of users the bench never sends."""

    def __init__(self, count: int) -> None:
        until = int(time.time() * 1000)
        self._view = Tombstones(
            1, {user_subject(f"forgotten_{i}"): (Range(MIN_MS, until),) for i in range(count)}
        )

    def current(self) -> Tombstones:
        return self._view

    def load(self) -> Tombstones:
        return self._view

    def ack(self, version: int) -> None:
        pass

    def count_dropped(self, counts: Mapping[str, int]) -> None:
        raise RuntimeError(f"the bench's events are not forgotten users': {dict(counts)}")

    def retire(self) -> None:
        pass


def _run_sink(
    settings: Settings, backend: ClickHouseBackend, events: int, tombstones: int = 0
) -> dict[str, float]:
    """One sink run over the whole topic with a fresh consumer group into an empty table."""
    backend.command(f"TRUNCATE TABLE {INTERACTIONS_TABLE}")
    settings = settings.replace(
        **{"sink_group_id": f"{settings.sink.group_id}-{uuid.uuid4().hex[:6]}"}
    )
    first_read: list[float] = []
    source = StaticTombstones(tombstones) if tombstones else None
    sink = ClickHouseSink(settings, backend, clock=time.monotonic, tombstones=source)
    started = time.perf_counter()
    original_add = sink._add  # observe the first message read (start-up excluded)

    def add(messages: list[Any]) -> None:
        if messages and not first_read:
            first_read.append(time.perf_counter())
        original_add(messages)

    sink._add = add  # type: ignore[method-assign]
    deadline = time.monotonic() + 600
    stats = sink.run(until=lambda s: s.messages >= events or time.monotonic() > deadline)
    finished = time.perf_counter()
    if _count(backend) != events:
        raise RuntimeError(f"sink stored {_count(backend)} of {events} events")
    return {
        "seconds": finished - first_read[0],
        "startup_s": first_read[0] - started,
        "batches": stats.batches,
    }


def _run_baseline(backend: ClickHouseBackend, rows: list[Any], *, fold: bool) -> float:
    """Seconds for one bulk insert of the pre-decoded rows into an empty table."""
    backend.command(f"TRUNCATE TABLE {INTERACTIONS_TABLE}")
    began = time.perf_counter()
    backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, rows, optimize_on_insert=fold)
    seconds = time.perf_counter() - began
    if _count(backend) != len(rows):
        raise RuntimeError("baseline insert lost rows")
    return seconds


def bench_throughput(
    settings: Settings, events: int, repeat: int, tombstones: int = 0
) -> dict[str, Any]:
    """Sink runs and baseline inserts alternate `repeat` times (the machine's load drifts);
    the figures are medians, the ratio is taken per round."""
    payloads = _payloads(events)
    _publish(settings, payloads)
    rows = [interaction_row(decode_interaction(value)) for _, value in payloads]
    sink_runs: list[dict[str, float]] = []
    baseline_s: list[float] = []
    fold_s: list[float] = []
    tomb_runs: list[dict[str, float]] = []
    backend = open_backend(settings)
    try:
        migrate(backend)
        for _ in range(repeat):
            sink_runs.append(_run_sink(settings, backend, events))
            if tombstones:
                tomb_runs.append(_run_sink(settings, backend, events, tombstones))
            baseline_s.append(_run_baseline(backend, rows, fold=False))
            fold_s.append(_run_baseline(backend, rows, fold=True))
    finally:
        backend.close()
    sink_rates = [events / run["seconds"] for run in sink_runs]
    ratios = [b / run["seconds"] for b, run in zip(baseline_s, sink_runs, strict=True)]
    fold_ratios = [f / run["seconds"] for f, run in zip(fold_s, sink_runs, strict=True)]
    with_tombstones: dict[str, Any] = {}
    if tombstones:
        rates = [events / run["seconds"] for run in tomb_runs]
        with_tombstones = {
            "tombstones": tombstones,
            "sink_tombstones_rows_per_s": statistics.median(rates),
            "sink_tombstones_rows_per_s_runs": [round(r) for r in rates],
            "ratio_tombstones": statistics.median(
                b / run["seconds"] for b, run in zip(baseline_s, tomb_runs, strict=True)
            ),
            "tombstone_cost": statistics.median(
                t / n for t, n in zip(rates, sink_rates, strict=True)
            ),
        }
    return {
        **with_tombstones,
        "events": events,
        "repeat": repeat,
        "decode_workers": settings.sink.decode_workers,
        "sink_rows_per_s": statistics.median(sink_rates),
        "sink_rows_per_s_runs": [round(r) for r in sink_rates],
        "baseline_rows_per_s": statistics.median(events / s for s in baseline_s),
        "ratio": statistics.median(ratios),
        "ratio_runs": [round(r, 2) for r in ratios],
        "baseline_fold_rows_per_s": statistics.median(events / s for s in fold_s),
        "ratio_to_fold": statistics.median(fold_ratios),
        "sink_batches": sink_runs[-1]["batches"],
        "sink_startup_s": statistics.median(run["startup_s"] for run in sink_runs),
    }


GENERATE = f"""
INSERT INTO {INTERACTIONS_TABLE} ({", ".join(INTERACTION_COLUMNS)})
SELECT
    generateUUIDv4(number),
    now64(6) - toIntervalSecond(number % (90 * 86400)),
    concat('doc_', toString(cityHash64(number, 1) % 200000)),
    [arrayElement(['click', 'purchase', 'skip', 'long_view', 'add_to_cart'], number % 5 + 1)],
    toUInt16(number % 20),
    concat('user_', toString(cityHash64(number, 2) % 1000000)),
    NULL,
    concat('sess_', toString(intDiv(number, 7))),
    'ret_1',
    concat('q', toString(intDiv(number, 10))),
    concat('query ', toString(number % 5000)),
    toUInt32(number % 9000),
    '{{"duration_ms": 1200, "query": "wireless earbuds"}}',
    'bench',
    toUInt32(number % 4),
    number
FROM numbers({{start:UInt64}}, {{count:UInt64}})
"""


def bench_queries(settings: Settings, rows: int, samples: int = 30) -> dict[str, float]:
    backend = open_backend(settings)
    try:
        backend.command(f"TRUNCATE TABLE {INTERACTIONS_TABLE}")
        began = time.perf_counter()
        step = 2_000_000
        for start in range(0, rows, step):
            backend.command(GENERATE, {"start": start, "count": min(step, rows - start)})
        backend.command(f"OPTIMIZE TABLE {INTERACTIONS_TABLE} FINAL")
        generated_s = time.perf_counter() - began
        if _count(backend) != rows:
            raise RuntimeError("generated row count is off")
        queries = InteractionQueries(backend)
        rng = random.Random(7)

        def timed(flt: InteractionFilter) -> tuple[float, int]:
            t0 = time.perf_counter()
            page = queries.list(flt, limit=50)
            return time.perf_counter() - t0, len(page.items)

        timed(InteractionFilter(feature_id="doc_1"))  # warm caches once
        by_feature = [
            timed(InteractionFilter(feature_id=f"doc_{rng.randrange(200000)}"))
            for _ in range(samples)
        ]
        by_user = [
            timed(InteractionFilter(user_id=f"user_{rng.randrange(1000000)}"))
            for _ in range(samples)
        ]
    finally:
        backend.close()

    def p(values: list[tuple[float, int]], q: float) -> float:
        ordered = sorted(v for v, _ in values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "rows": rows,
        "generate_s": generated_s,
        "feature_p50_ms": statistics.median(v for v, _ in by_feature) * 1000,
        "feature_p95_ms": p(by_feature, 0.95),
        "feature_avg_items": statistics.mean(n for _, n in by_feature),
        "user_limit50_p50_ms": statistics.median(v for v, _ in by_user) * 1000,
        "user_limit50_p95_ms": p(by_user, 0.95),
        "user_avg_items": statistics.mean(n for _, n in by_user),
    }


def main() -> None:
    load_before = [round(x, 2) for x in os.getloadavg()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--decode-workers", type=int, default=None, help="default: SINK_DECODE_WORKERS"
    )
    parser.add_argument("--repeat", type=int, default=3, help="sink/baseline rounds (medians)")
    parser.add_argument(
        "--tombstones", type=int, default=0, help="also run the sink with N users' tombstones"
    )
    parser.add_argument("--label", default="", help="A note recorded with the figures.")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:10]
    folder = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    base = Settings()
    settings = Settings(
        **base.model_dump()
        | {
            "topic_interactions": f"bench-sink-i-{suffix}",
            "topic_searches": f"bench-sink-s-{suffix}",
            "sink_group_id": f"bench-sink-{suffix}",
            "clickhouse_url": f"chdb://{folder}",
        }
        | ({} if args.decode_workers is None else {"sink_decode_workers": args.decode_workers})
    )
    try:
        throughput = bench_throughput(settings, args.events, args.repeat, args.tombstones)
        print(
            f"sink Kafka->chDB : {throughput['sink_rows_per_s']:>10,.0f} rows/s "
            f"(median of {args.repeat}: {throughput['sink_rows_per_s_runs']}; "
            f"{args.events:,} events, {throughput['sink_batches']} batches, "
            f"{settings.sink.decode_workers} decode worker(s); start-up "
            f"{throughput['sink_startup_s']:.1f} s not counted)"
        )
        print(
            f"baseline bulk    : {throughput['baseline_rows_per_s']:>10,.0f} rows/s "
            "(same rows pre-decoded, one insert, the sink's insert settings)"
        )
        print(
            f"ratio            : {throughput['ratio']:.2f} (per round: {throughput['ratio_runs']}; "
            "target >= 0.6 (issue 20; the sink issue asked >= 0.5); and >= 50,000 rows/s)"
        )
        print(
            f"(baseline folding on insert, ClickHouse's default: "
            f"{throughput['baseline_fold_rows_per_s']:,.0f} rows/s; "
            f"ratio {throughput['ratio_to_fold']:.2f})"
        )
        if args.tombstones:
            print(
                f"with {args.tombstones:,} tombstones: "
                f"{throughput['sink_tombstones_rows_per_s']:>10,.0f} rows/s "
                f"(per round: {throughput['sink_tombstones_rows_per_s_runs']}); ratio "
                f"{throughput['ratio_tombstones']:.2f}; x{throughput['tombstone_cost']:.2f} "
                "of the sink's rate without"
            )
        latency: dict[str, float] = {}
        if args.rows > 0:
            latency = bench_queries(settings, args.rows)
            print(
                f"{args.rows:,} rows generated in {latency['generate_s']:.0f} s; "
                f"by feature_id (50): p50 {latency['feature_p50_ms']:.1f} ms, "
                f"p95 {latency['feature_p95_ms']:.1f} ms; "
                f"by user_id limit 50: p50 {latency['user_limit50_p50_ms']:.1f} ms, "
                f"p95 {latency['user_limit50_p95_ms']:.1f} ms"
            )
        figures: dict[str, Any] = {**throughput, **latency}
        if args.label:
            figures["label"] = args.label
        print(orjson.dumps({"bench": "sink", **figures}).decode())
        record("sink", figures, load_before=load_before)
    finally:
        _delete_topics(settings)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
