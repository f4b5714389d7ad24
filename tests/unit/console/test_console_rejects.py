"""The collector's log of refused events: bounded, newest first, cut, thread-safe."""

from __future__ import annotations

import threading

import pytest

from interaction_pipeline.console import RejectLog
from interaction_pipeline.console._rejects import MAX_EVENT_CHARS

pytestmark = pytest.mark.unit


def test_the_log_keeps_the_latest_events_newest_first() -> None:
    log = RejectLog(size=3)
    for i in range(5):
        log.record("interaction", [(i, {"feature_id": f"doc_{i}"}, [f"position: bad {i}"])])
    latest = log.latest()
    assert [r.index for r in latest] == [4, 3, 2]
    assert latest[0].errors == ("position: bad 4",)
    assert latest[0].event == {"feature_id": "doc_4"}
    assert len(log) == 3


def test_a_huge_event_or_an_unreadable_body_is_cut_not_kept_whole() -> None:
    log = RejectLog()
    log.record("search", [(0, {"query": "x" * (2 * MAX_EVENT_CHARS)}, ["query: too long"])])
    log.record("interaction", [(None, b"\xff{not json" * 1000, ["body: not valid JSON"])])
    body, big = log.latest()
    assert body.index is None and body.event is None
    assert len(body.text) <= MAX_EVENT_CHARS
    assert big.event is None and len(big.text) == MAX_EVENT_CHARS
    assert big.to_json()["kind"] == "search"


def test_concurrent_requests_lose_no_entry() -> None:
    log = RejectLog(size=10_000)

    def post(n: int) -> None:
        for i in range(200):
            log.record("interaction", [(i, {"n": n}, ["x: bad"])])

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r.seq for r in log.latest()]
    assert len(seqs) == 1600 and len(set(seqs)) == 1600
