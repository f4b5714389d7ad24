"""Exactly once through crashes: every event is stored once, however the sink dies.

Two tests: a deterministic one in this process (the sink "dies" right after an insert, before
committing its offsets: the worst moment) and the kill -9 test (sink processes killed by
SIGKILL several times under load, each kill placed inside the insert -> commit window by a
fault-injecting backend and checked to have landed there, with ClickHouse's own
deduplication off; then a final run drains the topic).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from schemas.settings import Settings
from sinks import ClickHouseSink
from sinks.ddl import COL_KAFKA_OFFSET, COL_KAFKA_PARTITION, INTERACTIONS_TABLE
from tests.integration.sink_support import (
    FlakyBackend,
    backend_for,
    checksum,
    interaction,
    produce,
    run_sink,
    sink_settings,
    stored_ids,
)
from tests.integration.sinks.killing_sink import NoDedupBackend, without_guard
from tests.kafka_reading import committed_offsets, group_committed_to_end

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the sink catches it."""


class _CrashAfterInsert(FlakyBackend):
    """Inserts for real, then 'dies' before the sink can commit, on the n-th insert."""

    def __init__(self, inner: Any, crash_on: int) -> None:
        super().__init__(inner)
        self.inserts = 0
        self.crash_on = crash_on

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        written = self.inner.insert_arrow(
            table, data, dedup_token=dedup_token, optimize_on_insert=optimize_on_insert
        )
        if table != INTERACTIONS_TABLE:
            return written
        self.inserts += 1
        if self.inserts == self.crash_on:
            raise _Crash
        return written


def test_crash_between_insert_and_commit_stores_each_event_once(
    unique_settings: Settings,
) -> None:
    settings = sink_settings(unique_settings, sink_batch_max_rows=500, sink_batch_max_s=5.0)
    events = [interaction(i) for i in range(3_000)]
    produce(settings, events)
    with backend_for(settings) as backend:
        crashing = _CrashAfterInsert(backend, crash_on=3)
        with pytest.raises(_Crash):
            ClickHouseSink(settings, crashing).run()
        assert len(stored_ids(backend)) == 1_500  # three batches in, two committed

        stats = run_sink(settings, backend, lambda s: s.messages >= len(events) - 1_000)
        assert stats.duplicates_skipped == 500
        ids = stored_ids(backend)
        assert len(ids) == len(events)
        assert checksum(ids) == checksum([str(e.event_id) for e in events])


KILLING_SINK = "tests.integration.sinks.killing_sink"


def _killing_sink(
    settings: Settings, marker: Path, kill_on: int, log: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    """tests/integration/sinks/killing_sink.py in its own process: the real sink that kills
    itself between its `kill_on`-th insert and that insert's commit."""
    env = os.environ | settings.environment() | extra_env
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", KILLING_SINK, str(marker), str(kill_on)],
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def _stored_offsets(backend: Any) -> dict[int, int]:
    """The highest Kafka offset stored per partition."""
    rows = backend.query(
        f"SELECT {COL_KAFKA_PARTITION} AS p, max({COL_KAFKA_OFFSET}) AS o "
        f"FROM {INTERACTIONS_TABLE} GROUP BY p"
    )
    return {int(r["p"]): int(r["o"]) for r in rows}


def _counts(backend: Any) -> tuple[int, int, int]:
    """count(), count() FINAL and uniqExact(event_id): equal only without duplicates."""
    row = backend.query(
        f"SELECT (SELECT count() FROM {INTERACTIONS_TABLE}) AS n, "
        f"(SELECT count() FROM {INTERACTIONS_TABLE} FINAL) AS final, "
        f"(SELECT uniqExact(event_id) FROM {INTERACTIONS_TABLE}) AS ids"
    )[0]
    return int(row["n"]), int(row["final"]), int(row["ids"])


KILLS = 5


@pytest.mark.slow
def test_kill_9_between_insert_and_commit_several_times_under_load(
    unique_settings: Settings, tmp_path: Path
) -> None:
    """Five sink processes, each killed by SIGKILL right after an insert and before its
    commit (a fault-injecting backend does it, so every kill lands in that window), while
    events keep arriving; then a last run drains the topic. ClickHouse's own deduplication
    is off throughout (no insert tokens, merges stopped), so count(), count() FINAL and
    uniqExact(event_id) all equal the events sent only if the sink's guard skipped what
    each killed run had stored."""
    # A killed sink's partitions move on after the session timeout: the broker's minimum.
    settings = sink_settings(
        unique_settings,
        sink_batch_max_rows=3_000,
        sink_batch_max_s=0.2,
        sink_session_timeout_s=6,
    )
    group, topic = settings.sink.group_id, settings.topics.interactions
    events = [interaction(i) for i in range(30_000)]
    chunks = [events[i : i + 1_000] for i in range(0, len(events), 1_000)]
    producing_failed: list[BaseException] = []
    sent = threading.Semaphore(0)

    def load() -> None:
        try:
            for chunk in chunks:
                produce(settings, chunk)
                sent.release()
        except BaseException as exc:
            producing_failed.append(exc)

    producer = threading.Thread(target=load, daemon=True)
    producer.start()
    rng = random.Random(6)
    marker, log = tmp_path / "kills.jsonl", tmp_path / "sink.log"
    extra = {"KILL_TEST_WITHOUT_GUARD": os.environ.get("KILL_TEST_WITHOUT_GUARD", "0")}
    for kill in range(KILLS):
        assert sent.acquire(timeout=120), "the producer stalled"  # load keeps arriving
        process = _killing_sink(settings, marker, rng.randint(1, 3), log, **extra)
        try:
            code = process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        assert code == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]
        recorded = [json.loads(line) for line in marker.read_text().splitlines()]
        assert len(recorded) == kill + 1  # it died in the injected place, nowhere else
        # Independent of the marker: rows of the last insert are in ClickHouse while the
        # group's committed offsets stop short of them (the kill came before the commit).
        committed = committed_offsets(settings, group, topic)
        with backend_for(settings) as backend:
            stored = _stored_offsets(backend)
        for partition, (_low, high) in recorded[-1]["ranges"].items():
            assert stored[int(partition)] >= high
            assert committed.get(int(partition), -1) <= high, (partition, committed, high)
    producer.join(timeout=300)
    assert not producer.is_alive() and not producing_failed, producing_failed

    with backend_for(settings) as backend:
        expected = len(events)
        unguarded = NoDedupBackend(backend)

        def drained(_stats: Any) -> bool:
            return group_committed_to_end(settings, group, topic)

        if extra["KILL_TEST_WITHOUT_GUARD"] == "1":
            without_guard()
        final = run_sink(settings, unguarded, drained, timeout=240)
        assert group_committed_to_end(settings, group, topic)
        assert _counts(backend) == (expected, expected, expected), final.duplicates_skipped
        ids = stored_ids(backend)
        assert checksum(ids) == checksum([str(e.event_id) for e in events])
