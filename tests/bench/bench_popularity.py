"""Popularity worker throughput, boost lookup latency and end-to-end freshness.

    python tests/bench/bench_popularity.py [--events 100000] [--fresh-seconds 10]
        [--fresh-rate 5000] [--fresh-rounds 3] [--label TEXT]

Assumes the local stack is up (`make stack-up`); uses its own topic, consumer groups and Redis
prefixes and removes them afterwards. Measured side by side, one after the other so they do
not share the two cores:

* throughput: `interactions worker` (Faust, exactly-once Lua scripts, trending, history)
  against a baseline consumer reading the same topic with aiokafka and applying the same
  increments (hour bucket, window sums, history) with one plain Redis pipeline per batch (no
  Faust, no exactly-once). Also shown: a Faust agent that does nothing, the ceiling Faust's
  per-message path leaves on this machine, with Faust's defaults and tuned as the worker runs
  Faust (stream_processors/_faust_tuning.py). Targets: >= 0.5 x baseline and >= 20,000
  events/s.
* boost lookup: `PopularityReader.boost` for 100 and 1,000 candidates against one pipelined
  HGET per candidate. Target: p99 < 2 ms for 100 candidates.
* freshness: producer acknowledgement -> count visible in Redis, p99, at 5,000 events/s,
  `--fresh-rounds` rounds one after the other against the same worker. Target: < 1 s.

The last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from schemas.events import InteractionEvent, effective_types  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.wire import decode_interaction, encode  # noqa: E402
from stream_processors import BoostConfig, PopularityReader  # noqa: E402
from stream_processors._windows import hour_of  # noqa: E402
from stream_processors.keys import (  # noqa: E402
    RedisKeys,
    bucket_field,
    history_member,
    sum_field,
)
from tests.bench.results import record  # noqa: E402
from tests.services import load_stack  # noqa: E402

DOCS = 5_000
USERS = 1_000
PARTITIONS = 4
BATCH = 5_000
TIMEOUT_S = 300.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- setup ---------------------------------------------------------------------------------
def make_settings(base: Settings, suffix: str) -> Settings:
    return base.replace(
        **{
            "topic_interactions": f"bench-pop-{suffix}",
            "topic_dead_letter": f"bench-pop-dlq-{suffix}",
            "redis_key_prefix": f"bp{suffix}",
        }
    )


def create_topics(settings: Settings) -> None:
    stack = load_stack()
    stack.ensure_topics(settings, [settings.topics.interactions], partitions=PARTITIONS)
    stack.ensure_topics(settings, [settings.topics.dead_letter], partitions=1)


def delete_topics(settings: Settings) -> None:
    load_stack().delete_topics(
        settings, [settings.topics.interactions, settings.topics.dead_letter]
    )


def delete_keys(settings: Settings, *prefixes: str) -> None:
    client = redis.Redis.from_url(settings.redis.url)
    for prefix in prefixes:
        batch = list(client.scan_iter(match=f"{prefix}:*", count=5_000))
        for k in range(0, len(batch), 1_000):
            client.delete(*batch[k : k + 1_000])
    client.close()


def sample_events(n: int, rng: random.Random) -> list[InteractionEvent]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        doc = int(rng.paretovariate(1.2)) % DOCS
        types = rng.choice([["click"], ["click"], ["click"], ["purchase"], ["add_to_cart"]])
        extra = {"metadata": {"duration_ms": 5_000}} if i % 10 == 0 else {}
        out.append(
            InteractionEvent(
                feature_id=f"doc_{doc}",
                interaction_type=types,
                user_id=f"user_{rng.randrange(USERS)}",
                position=rng.randrange(10),
                timestamp=now - timedelta(minutes=rng.randrange(3 * 24 * 60)),
                **extra,
            )
        )
    return out


def produce(settings: Settings, events: list[InteractionEvent]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 20})
    for e in events:
        while True:
            try:
                producer.produce(
                    settings.topics.interactions, key=e.feature_id.encode(), value=encode(e)
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)


# -- throughput: baseline ------------------------------------------------------------------
async def baseline_consume(settings: Settings, prefix: str, n: int) -> float:
    """aiokafka + one plain Redis pipeline per batch; the same increments, no exactly-once."""
    import redis.asyncio as aioredis
    from aiokafka import AIOKafkaConsumer

    keys = RedisKeys(prefix)
    windows = settings.popularity.windows_days
    consumer = AIOKafkaConsumer(
        settings.topics.interactions,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=f"bench-baseline-{prefix}",
        auto_offset_reset="earliest",
        max_poll_records=BATCH,
    )
    client = aioredis.Redis.from_url(settings.redis.url)
    await consumer.start()
    done, started = 0, 0.0
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=100, max_records=BATCH)
            if not batches:
                continue
            if not started:
                started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            now_hour = hour_of(int(time.time() * 1000))
            for messages in batches.values():
                for message in messages:
                    event = decode_interaction(message.value)
                    ms = int(event.timestamp.timestamp() * 1000)
                    hour = hour_of(ms)
                    state = keys.feature_state(event.feature_id)
                    for t in effective_types(event, settings.events.long_view_ms):
                        field = bucket_field(hour, t)
                        pipe.hincrby(keys.feature_buckets(event.feature_id), field, 1)
                        pipe.zadd(keys.feature_bucket_index(event.feature_id), {field: hour})
                        for days in windows:
                            if hour >= now_hour - 24 * days:
                                pipe.hincrby(state, sum_field(days, t), 1)
                        if event.user_id:
                            member = history_member(t, event.feature_id)
                            pipe.zadd(keys.user_history(event.user_id), {member: ms}, gt=True)
                    done += 1
            await pipe.execute()
        return done / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await client.aclose()


# -- throughput: our worker and a no-op Faust agent ----------------------------------------
def worker_env(settings: Settings, metrics_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "REDIS_URL": settings.redis.url,
            "TOPIC_INTERACTIONS": settings.topics.interactions,
            "TOPIC_DEAD_LETTER": settings.topics.dead_letter,
            "REDIS_KEY_PREFIX": settings.redis.key_prefix,
            "WORKER_METRICS_PORT": str(metrics_port),
        }
    )
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int, name: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return -1.0
    found = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
    return float(found.group(1)) if found else -1.0


def start_worker(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "interaction_pipeline.cli.main", "worker", "--loglevel", "error"],
        env=worker_env(settings, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def worker_throughput(settings: Settings, port: int, n: int) -> float:
    """Events/s from the first applied batch to the last (startup excluded)."""
    metric = "popularity_events_applied_total"
    deadline = time.monotonic() + TIMEOUT_S
    first: tuple[float, float] | None = None
    applied = 0.0
    while applied < n and time.monotonic() < deadline:
        applied = scrape(port, metric)
        if applied > 0 and first is None:
            first = (time.perf_counter(), applied)
        time.sleep(0.05)
    if first is None or applied < n:
        raise RuntimeError(f"worker applied {applied} of {n} events before the timeout")
    return (applied - first[1]) / (time.perf_counter() - first[0])


FAUST_NOOP = """
import os, sys, time
topic, n, out, broker, group = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
tuned = sys.argv[6] == "tuned"
if tuned:  # as `interactions worker` runs Faust (_faust_tuning.py, GC tuning)
    import mode.loop
    mode.loop.use("uvloop")
    from stream_processors._faust_transport import use_worker_transport
    from stream_processors._faust_tuning import RawSchema, tuned_app_settings
    from pipeline_runtime.processes import tune_gc
    from schemas.settings import Settings
import faust
app = faust.App(group, broker="kafka://" + broker, store="memory://", web_enabled=False,
                value_serializer="raw", key_serializer="raw", datadir=out + ".d",
                consumer_auto_offset_reset="earliest", stream_wait_empty=False,
                **(tuned_app_settings() if tuned else {}))
if tuned:
    use_worker_transport(app)
    tune_gc(Settings().worker.gc_young_threshold)
source = (app.topic(topic, schema=RawSchema()) if tuned
          else app.topic(topic, key_type=bytes, value_type=bytes))
state = {"n": 0, "t": 0.0}
@app.agent(source, concurrency=1)
async def noop(stream):
    async for events in stream.take_events(5000, within=0.1):
        state["t"] = state["t"] or time.perf_counter()
        state["n"] += len(events)
        if state["n"] >= n:
            open(out, "w").write(str(state["n"] / (time.perf_counter() - state["t"])))
            os._exit(0)
worker = faust.Worker(app, loglevel="error", quiet=True)
worker.spinner = None
worker.execute_from_commandline()
"""


def faust_noop_throughput(settings: Settings, n: int, workdir: Path, *, tuned: bool) -> float:
    """A Faust agent that only counts: with Faust's defaults, or tuned as the worker is."""
    out = workdir / f"faust-noop-{'tuned' if tuned else 'default'}.txt"
    group = f"bench-noop-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            FAUST_NOOP,
            settings.topics.interactions,
            str(n),
            str(out),
            settings.kafka.bootstrap_servers.split(",")[0],
            group,
            "tuned" if tuned else "default",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    return float(out.read_text())


# -- boost latency -------------------------------------------------------------------------
def boost_latency(settings: Settings, candidates: int, rounds: int) -> dict[str, float]:
    client = redis.Redis.from_url(settings.redis.url)
    reader = PopularityReader(client, settings)
    config = BoostConfig(interaction_types=["click", "purchase"], time_window_days=7)
    keys = RedisKeys(settings.redis.key_prefix)
    field = sum_field(7, "click")
    rng = random.Random(7)
    ours: list[float] = []
    base: list[float] = []
    for _ in range(rounds):
        docs = [f"doc_{rng.randrange(DOCS)}" for _ in range(candidates)]
        scored = [(d, rng.random()) for d in docs]
        started = time.perf_counter()
        reader.boost(scored, config)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for d in docs:
            pipe.hget(keys.feature_state(d), field)
        pipe.execute()
        base.append(time.perf_counter() - started)
    client.close()
    return {
        "ours_p50_ms": 1000 * statistics.median(ours),
        "ours_p99_ms": 1000 * percentile(ours, 0.99),
        "baseline_p50_ms": 1000 * statistics.median(base),
        "baseline_p99_ms": 1000 * percentile(base, 0.99),
    }


# -- freshness -----------------------------------------------------------------------------
def freshness(settings: Settings, rate: int, seconds: float) -> dict[str, float]:
    """Every 25th event gets a feature of its own; a poller notes when its count shows."""
    from confluent_kafka import Producer

    keys = RedisKeys(settings.redis.key_prefix)
    field = sum_field(7, "click")
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def poll() -> None:
        client = redis.Redis.from_url(settings.redis.url)
        while not stop.is_set():
            with lock:
                pending = [f for f in acked if f not in seen]
            if pending:
                pipe = client.pipeline(transaction=False)
                for fid in pending:
                    pipe.hget(keys.feature_state(fid), field)
                now = time.monotonic()
                for fid, value in zip(pending, pipe.execute(), strict=True):
                    if value is not None:
                        seen[fid] = now
            time.sleep(0.002)
        client.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 2})
    rng = random.Random(3)
    run = uuid.uuid4().hex[:6]
    total = int(rate * seconds)
    started = time.monotonic()
    for i in range(total):
        probe = i % 25 == 0
        fid = f"fresh_{run}_{i}" if probe else f"doc_{rng.randrange(DOCS)}"
        event = InteractionEvent(feature_id=fid, interaction_type=["click"], user_id="bench")

        def on_ack(err: Any, _msg: Any, fid: str = fid, probe: bool = probe) -> None:
            if probe and err is None:
                with lock:
                    acked[fid] = time.monotonic()

        producer.produce(
            settings.topics.interactions, key=fid.encode(), value=encode(event), on_delivery=on_ack
        )
        delay = started + (i + 1) / rate - time.monotonic()
        producer.poll(max(delay, 0))
    producer.flush(30)
    achieved = total / (time.monotonic() - started)
    deadline = time.monotonic() + 30
    while len(seen) < len(acked) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join(5)
    lags = [seen[f] - acked[f] for f in acked if f in seen]
    missing = len(acked) - len(lags)
    return {
        "rate_achieved": achieved,
        "probes": len(acked),
        "missing": missing,
        "p50_ms": 1000 * statistics.median(lags),
        "p99_ms": 1000 * percentile(lags, 0.99),
    }


# -- main ----------------------------------------------------------------------------------
def main() -> None:
    load_before = [round(x, 2) for x in os.getloadavg()]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--fresh-seconds", type=float, default=10.0)
    parser.add_argument("--fresh-rate", type=int, default=5_000)
    parser.add_argument("--fresh-rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="recorded with the figures (what was run)")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(Settings(), suffix)
    baseline_prefix = f"bb{suffix}"
    figures: dict[str, Any] = {"events": args.events}
    if args.label:
        figures["label"] = args.label
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-popularity-{suffix}"
    workdir.mkdir(parents=True, exist_ok=True)
    create_topics(settings)
    worker: subprocess.Popen[bytes] | None = None
    try:
        say(f"producing {args.events:,} events to {settings.topics.interactions}")
        produce(settings, sample_events(args.events, random.Random(1)))

        say("baseline: aiokafka + one Redis pipeline per batch")
        base_rate = asyncio.run(baseline_consume(settings, baseline_prefix, args.events))
        say("ours: interactions worker")
        port = free_port()
        worker = start_worker(settings, port)
        ours_rate = worker_throughput(settings, port, args.events)
        say("ceiling: a Faust agent that does nothing (Faust's defaults, then tuned)")
        noop_rate = faust_noop_throughput(settings, args.events, workdir, tuned=False)
        tuned_rate = faust_noop_throughput(settings, args.events, workdir, tuned=True)
        figures["throughput"] = {
            "ours_events_s": round(ours_rate),
            "baseline_events_s": round(base_rate),
            "ratio": round(ours_rate / base_rate, 3),
            "faust_noop_events_s": round(noop_rate),
            "faust_noop_tuned_events_s": round(tuned_rate),
        }
        print(
            f"throughput   ours {ours_rate:9,.0f} ev/s   baseline {base_rate:9,.0f} ev/s   "
            f"ratio {ours_rate / base_rate:.2f}   (faust no-op agent {noop_rate:,.0f} ev/s, "
            f"tuned as the worker {tuned_rate:,.0f} ev/s; target >= 0.5 x and >= 20,000)"
        )

        for candidates, rounds in ((100, 2_000), (1_000, 300)):
            lat = boost_latency(settings, candidates, rounds)
            figures[f"boost_{candidates}"] = {k: round(v, 3) for k, v in lat.items()}
            print(
                f"boost {candidates:>5}  ours p50 {lat['ours_p50_ms']:.2f} ms "
                f"p99 {lat['ours_p99_ms']:.2f} ms   baseline (pipelined HGET) p50 "
                f"{lat['baseline_p50_ms']:.2f} ms p99 {lat['baseline_p99_ms']:.2f} ms   "
                f"ratio p99 {lat['ours_p99_ms'] / lat['baseline_p99_ms']:.2f}"
                + ("   (target p99 < 2 ms)" if candidates == 100 else "")
            )

        rounds = []
        for _ in range(args.fresh_rounds):
            fresh = freshness(settings, args.fresh_rate, args.fresh_seconds)
            rounds.append({k: round(v, 1) for k, v in fresh.items()})
            print(
                f"freshness    p50 {fresh['p50_ms']:.0f} ms  p99 {fresh['p99_ms']:.0f} ms at "
                f"{fresh['rate_achieved']:,.0f} ev/s ({fresh['probes']:.0f} probes, "
                f"{fresh['missing']:.0f} missing)   (target p99 < 1,000 ms)"
            )
        figures["freshness"] = rounds[-1] if len(rounds) == 1 else rounds
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        delete_topics(settings)
        delete_keys(settings, settings.redis.key_prefix, baseline_prefix)
    print(orjson.dumps({"bench": "popularity", **figures}).decode())
    record("popularity", figures, load_before=load_before)


if __name__ == "__main__":
    main()
