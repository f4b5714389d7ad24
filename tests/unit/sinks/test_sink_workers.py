"""Decode worker processes: same blocks as decoding inline, and no orphans after a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.topics import Topics
from schemas.wire import encode
from sinks import open_backend
from sinks._decode import ChunkDecoder, MessageChunk
from sinks._workers import DecodePool, result

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
TOPICS = Topics("interactions", "searches", "dlq")


def test_workers_decode_like_the_sink_process(schemas: dict[str, pa.Schema]) -> None:
    values: list[bytes | None] = [
        encode(InteractionEvent(feature_id=f"d{i}", interaction_type=["click"], position=i))
        for i in range(50)
    ]
    values[7] = b'{"feature_id": "d", "interaction_type": []}'
    chunk = MessageChunk(
        "interactions", [i % 3 for i in range(50)], list(range(50)), [b"k"] * 50, values
    )
    inline = ChunkDecoder(TOPICS, {}, schemas).decode(chunk)
    pool = DecodePool(TOPICS, {}, schemas, workers=2)
    try:
        decoded = [result(pool.submit(chunk)) for _ in range(4)]
    finally:
        pool.close()
    for got in decoded:
        assert got.spans == inline.spans
        assert set(got.tables) == set(inline.tables)
        for table, block in inline.tables.items():
            # received_at of a reject is the decode time; everything else is equal
            columns = [c for c in block.column_names if c != "received_at"]
            assert got.tables[table].select(columns).equals(block.select(columns))


_SINK_STAND_IN = """
import multiprocessing, sys, tempfile, time
from sinks.ddl import TABLE_COLUMNS
from schemas.settings import Settings
from schemas.topics import Topics
from sinks import migrate, open_backend
from sinks._arrow import table_schema
from sinks._workers import DecodePool

if __name__ == "__main__":
    backend = open_backend(Settings(clickhouse_url="chdb://" + tempfile.mkdtemp()))
    migrate(backend)
    schemas = {t: table_schema(backend, t, c) for t, c in TABLE_COLUMNS.items()}
    pool = DecodePool(Topics("i", "s", "d"), {}, schemas, workers=2)
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_workers_die_with_a_killed_sink(tmp_path: Path) -> None:
    script = tmp_path / "sink_stand_in.py"
    script.write_text(_SINK_STAND_IN)
    sink = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        workers = [int(pid) for pid in sink.stdout.readline().split()]
        assert len(workers) >= 2 and all(_alive(pid) for pid in workers)
        os.kill(sink.pid, signal.SIGKILL)
        sink.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(timeout=30)
        if sink.stdout is not None:
            sink.stdout.close()


def test_others_waiting_sees_live_tickets_only(tmp_path: Path) -> None:
    backend = open_backend(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))
    try:
        assert not backend.others_waiting()
        tickets = tmp_path / "chdb" / ".pipeline-waiting"
        tickets.mkdir(parents=True)
        (tickets / f"{os.getpid()}-mine").touch()  # this process's own ticket
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        (tickets / f"{dead.stdout.strip()}-gone").touch()
        assert not backend.others_waiting()
        assert not (tickets / f"{dead.stdout.strip()}-gone").exists()  # stale, removed
        (tickets / f"{os.getppid()}-reader").touch()
        assert backend.others_waiting()
    finally:
        backend.close()
