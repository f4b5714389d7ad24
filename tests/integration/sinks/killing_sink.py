"""`python -m tests.integration.sinks.killing_sink MARKER N`: the sink, killed in its worst window.

The real `ClickHouseSink` over the real backend, with a fault-injecting wrapper around the
backend: on its N-th insert into `interactions` the insert goes through, a line saying which
Kafka offsets it wrote is appended (and fsynced) to MARKER, and the process sends itself
SIGKILL, inside `insert_arrow`, so before the sink can commit those offsets. The kill cannot
miss the insert -> commit window, however the machine is loaded.

So that the sink's own guard (sinks/_guard.py) is what keeps rows unique, the wrapper also
switches ClickHouse's help off: insert deduplication tokens are dropped, and background
merges (which fold rows of one event_id in a ReplacingMergeTree) are stopped before every
insert. `KILL_TEST_WITHOUT_GUARD=1` disables the guard too: the mutation check of the test.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas.settings import Settings
from sinks import ClickHouseBackend, ClickHouseSink, migrate, open_backend
from sinks._guard import OffsetGuard
from sinks.ddl import COL_KAFKA_OFFSET, COL_KAFKA_PARTITION, INTERACTIONS_TABLE
from tests.integration.sink_support import FlakyBackend

STOP_MERGES = f"SYSTEM STOP MERGES {INTERACTIONS_TABLE}"


class NoDedupBackend(FlakyBackend):
    """A real backend without ClickHouse's deduplication: no tokens, no merges."""

    def __init__(self, inner: ClickHouseBackend) -> None:
        super().__init__(inner)

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        self.inner.command(STOP_MERGES)  # again after every reopen of the chDB folder
        return self.inner.insert_arrow(table, data, dedup_token=None, optimize_on_insert=False)


class KillAfterInsert(NoDedupBackend):
    """Dies (SIGKILL, no cleanup) right after its `kill_on`-th insert into interactions."""

    def __init__(self, inner: ClickHouseBackend, marker: Path, kill_on: int) -> None:
        super().__init__(inner)
        self.marker = marker
        self.kill_on = kill_on
        self.inserts = 0

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        written = super().insert_arrow(table, data)
        if table != INTERACTIONS_TABLE:
            return written
        self.inserts += 1
        if self.inserts == self.kill_on:
            self._record(data)
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    def _record(self, data: pa.Table) -> None:
        ranges: dict[int, list[int]] = {}
        partitions = data.column(COL_KAFKA_PARTITION).to_pylist()
        offsets = data.column(COL_KAFKA_OFFSET).to_pylist()
        for partition, offset in zip(partitions, offsets, strict=True):
            low_high = ranges.setdefault(int(partition), [int(offset), int(offset)])
            low_high[0] = min(low_high[0], int(offset))
            low_high[1] = max(low_high[1], int(offset))
        with self.marker.open("a") as out:
            out.write(json.dumps({"rows": data.num_rows, "ranges": ranges}) + "\n")
            out.flush()
            os.fsync(out.fileno())


def without_guard() -> None:
    """The mutation: the sink re-inserts what an earlier run stored."""

    def keep_everything(self: OffsetGuard, batch: Any, *, recheck: bool = False) -> int:
        return 0

    OffsetGuard.filter = keep_everything  # type: ignore[method-assign]


def main(marker: Path, kill_on: int) -> None:
    if os.environ.get("KILL_TEST_WITHOUT_GUARD") == "1":
        without_guard()
    settings = Settings()
    backend = open_backend(settings, polite=True)
    migrate(backend)
    ClickHouseSink(settings, KillAfterInsert(backend, marker, kill_on)).run()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
