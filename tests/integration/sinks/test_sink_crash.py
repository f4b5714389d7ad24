"""Exactly once through crashes: every event is stored once, however the sink dies.

Two tests: a deterministic one (the sink dies right after an insert, before committing its
offsets: the worst moment) and the kill -9 test the issue asks for (a sink process killed
several times at random moments under load, then a final run drains the topic).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from schemas.settings import Settings
from sinks import ClickHouseSink
from sinks.ddl import INTERACTIONS_TABLE
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


def _sink_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ.copy()
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "REDIS_URL": settings.redis.url,
            "CLICKHOUSE_URL": settings.clickhouse.url,
            "TOPIC_INTERACTIONS": settings.topics.interactions,
            "TOPIC_SEARCHES": settings.topics.searches,
            "SINK_GROUP_ID": settings.sink.group_id,
            "SINK_BATCH_MAX_ROWS": str(settings.sink.batch_max_rows),
            "SINK_BATCH_MAX_S": str(settings.sink.batch_max_s),
            "SINK_SESSION_TIMEOUT_S": str(settings.sink.session_timeout_s),
            "SINK_DECODE_WORKERS": str(settings.sink.decode_workers),
        }
    )
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "interaction_pipeline.cli.main", "sink"],
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def _assignments(log: Path) -> int:
    """How many times sink processes logged a partition assignment so far."""
    if not log.exists():
        return 0
    return len(re.findall(r"\bassigned \[", log.read_text(errors="replace")))


@pytest.mark.slow
def test_kill_9_mid_batch_several_times_under_load(
    unique_settings: Settings, tmp_path: Path
) -> None:
    # A killed sink's partitions move on after the session timeout: the broker's minimum.
    settings = sink_settings(
        unique_settings,
        sink_batch_max_rows=3_000,
        sink_batch_max_s=0.2,
        sink_session_timeout_s=6,
    )
    events = [interaction(i) for i in range(30_000)]
    chunks = [events[i : i + 1_000] for i in range(0, len(events), 1_000)]
    producing_failed: list[BaseException] = []

    def load() -> None:
        try:
            for chunk in chunks:
                produce(settings, chunk)
                time.sleep(0.15)
        except BaseException as exc:
            producing_failed.append(exc)

    producer = threading.Thread(target=load, daemon=True)
    producer.start()
    rng = random.Random(6)
    log = tmp_path / "sink.log"
    kills = 0
    process: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(5):
            started = _assignments(log)
            process = _sink_process(settings, log)
            # Start-up (imports, decode workers, joining the group) takes seconds and varies
            # with the machine's load: kill at a random moment after the sink got partitions.
            deadline = time.monotonic() + 60
            while _assignments(log) == started and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()[-3000:]
                time.sleep(0.05)
            time.sleep(rng.uniform(0.3, 2.5))
            assert process.poll() is None, log.read_text()[-3000:]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    producer.join(timeout=120)
    assert not producer.is_alive() and not producing_failed, producing_failed
    assert kills == 5

    with backend_for(settings) as backend:
        expected = len(events)

        def drained(_stats: Any) -> bool:
            return (
                int(backend.query(f"SELECT count() AS n FROM {INTERACTIONS_TABLE}")[0]["n"])
                >= expected
            )

        final = run_sink(settings, backend, drained, timeout=120)
        assert (
            int(backend.query(f"SELECT count() AS n FROM {INTERACTIONS_TABLE}")[0]["n"]) == expected
        )
        ids = stored_ids(backend)
        assert len(ids) == len(set(ids)) == expected
        assert checksum(ids) == checksum([str(e.event_id) for e in events])
        # How often a kill fell between an insert and its commit (random; shown with -s).
        skips = len(re.findall(r"skipped \d+ message", log.read_text(errors="replace")))
        print(
            f"kills: {kills}; earlier runs skipped duplicates {skips} time(s); "
            f"final run skipped {final.duplicates_skipped} message(s)"
        )
