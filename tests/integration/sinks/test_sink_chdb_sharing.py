"""chDB is one process at a time: readers still get in while the sink inserts batch after batch.

The sink (a separate process, as in production) releases the folder after every insert and,
before reopening it, lets processes that are already waiting go first; so CLI and HTTP reads
succeed during heavy ingest instead of timing out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.settings import Settings
from sinks import BackendBusyError, open_backend
from sinks.ddl import INTERACTIONS_TABLE
from tests.integration.sink_support import interaction, produce, sink_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_reads_get_in_while_the_sink_is_busy(unique_settings: Settings, tmp_path: Path) -> None:
    settings = sink_settings(
        unique_settings, sink_batch_max_rows=1_000, sink_batch_max_s=0.1, chdb_lock_timeout_s=15
    )
    events = [interaction(i) for i in range(50_000)]
    produce(settings, events)
    env = os.environ.copy()
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "CLICKHOUSE_URL": settings.clickhouse.url,
            "TOPIC_INTERACTIONS": settings.topics.interactions,
            "TOPIC_SEARCHES": settings.topics.searches,
            "SINK_GROUP_ID": settings.sink.group_id,
            "SINK_BATCH_MAX_ROWS": str(settings.sink.batch_max_rows),
            "SINK_BATCH_MAX_S": str(settings.sink.batch_max_s),
        }
    )
    log = (tmp_path / "sink.log").open("wb")
    sink = subprocess.Popen(
        [sys.executable, "-m", "interaction_pipeline.cli.main", "sink", "--quiet"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    reader = open_backend(settings, hold=False)
    counts: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                n = int(reader.query(f"SELECT count() AS n FROM {INTERACTIONS_TABLE}")[0]["n"])
            except BackendBusyError as exc:  # would mean the sink starved the reader
                pytest.fail(f"reader starved: {exc}")
            except Exception as exc:  # table not created yet by the sink's start-up
                if "UNKNOWN_TABLE" not in str(exc) and "does not exist" not in str(exc):
                    raise
                time.sleep(0.2)
                continue
            counts.append(n)
            if n == len(events):
                break
    finally:
        reader.close()
        sink.send_signal(signal.SIGTERM)
        try:
            sink.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait(timeout=30)
        log.close()
    assert counts and counts[-1] == len(events), (tmp_path / "sink.log").read_text()[-2000:]
    # Reads happened while the sink was still inserting, not only after it was done.
    assert any(0 < c < len(events) for c in counts)
