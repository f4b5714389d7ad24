"""ClickHouse down for a while: the sink retries, holds its offsets, loses and repeats nothing."""

from __future__ import annotations

import threading
import time

import pytest

from schemas.settings import Settings
from sinks import ClickHouseSink, migrate
from tests.integration.sink_support import (
    FlakyBackend,
    backend_for,
    checksum,
    interaction,
    produce,
    sink_settings,
    stored_ids,
)
from tests.popularity_support import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("partial", [False, True], ids=["clean-failure", "half-written"])
def test_outage_loses_and_duplicates_nothing(unique_settings: Settings, partial: bool) -> None:
    settings = sink_settings(unique_settings, sink_batch_max_rows=1_000)
    first = [interaction(i) for i in range(2_000)]
    during = [interaction(i) for i in range(2_000, 4_000)]
    produce(settings, first)
    with backend_for(settings) as backend:
        migrate(backend)  # the sink's startup check; the outage begins after it
        flaky = FlakyBackend(backend, partial=partial)
        flaky.fail_for(3600)  # down until the test heals it, on conditions below
        sink = ClickHouseSink(settings, flaky)
        total = len(first) + len(during)
        deadline = time.monotonic() + 180
        worker = threading.Thread(
            target=sink.run,
            kwargs={"until": lambda s: s.messages >= total or time.monotonic() > deadline},
        )
        worker.start()
        try:
            assert wait_for(lambda: flaky.failures >= 1, 120), "the sink never tried to insert"
            produce(settings, during)  # arrives while ClickHouse is still down
            assert wait_for(lambda: flaky.failures >= 2 and sink.stats.retries >= 2, 120)
        finally:
            flaky.heal()
            worker.join(timeout=240)
        assert not worker.is_alive()
        stats = sink.stats
        assert flaky.failures >= 2 and stats.retries >= 2
        assert stats.messages == total
        ids = stored_ids(backend)
        assert len(ids) == total
        assert checksum(ids) == checksum([str(e.event_id) for e in [*first, *during]])
        if partial:
            assert stats.duplicates_skipped > 0  # the half that got in was not written twice


def test_stop_during_outage_commits_nothing_and_next_run_catches_up(
    unique_settings: Settings,
) -> None:
    settings = sink_settings(unique_settings)
    events = [interaction(i) for i in range(1_500)]
    produce(settings, events)
    with backend_for(settings) as backend:
        migrate(backend)
        flaky = FlakyBackend(backend)
        flaky.fail_for(3600)
        sink = ClickHouseSink(settings, flaky)
        deadline = time.monotonic() + 60
        stats = sink.run(until=lambda s: s.retries >= 2 or time.monotonic() > deadline)
        assert stats.retries >= 2 and stats.messages == 0
        assert stored_ids(backend) == []

        flaky.heal()
        deadline = time.monotonic() + 60
        stats = ClickHouseSink(settings, flaky).run(
            until=lambda s: s.messages >= len(events) or time.monotonic() > deadline
        )
        assert stats.messages == len(events)
        assert len(stored_ids(backend)) == len(events)
