"""Which features (or users) share a Lua call: one cluster slot per call, bounded calls."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from stream_processors._grouping import call_groups
from stream_processors.keys import RedisKeys

pytestmark = pytest.mark.unit

KEYS = RedisKeys("p")


def state_keys(*feature_ids: str) -> list[str]:
    return [KEYS.feature_state(f) for f in feature_ids]


def test_a_single_server_takes_everything_in_one_call_in_order() -> None:
    keys = state_keys(*(f"doc_{i}" for i in range(50)))
    calls = call_groups(keys, [1] * 50, cluster=False, max_items=200, max_size=5_000)
    assert calls == [list(range(50))]


def test_calls_are_bounded_in_items_and_size() -> None:
    keys = state_keys(*(f"doc_{i}" for i in range(7)))
    assert call_groups(keys, [1] * 7, cluster=False, max_items=3, max_size=100) == [
        [0, 1, 2],
        [3, 4, 5],
        [6],
    ]
    sizes = [4, 4, 50, 1, 1]
    assert call_groups(keys[:5], sizes, cluster=False, max_items=100, max_size=10) == [
        [0, 1],
        [2],
        [3, 4],
    ]


def test_on_a_cluster_each_call_holds_one_slot_and_keeps_batch_order() -> None:
    # "a" twice: one feature on two partitions; both entries must run in batch order.
    ids = ["a", "b", "a", "c", "b", "d"]
    keys = state_keys(*ids)
    calls = call_groups(keys, [1] * len(ids), cluster=True, max_items=200, max_size=5_000)
    assert sorted(i for call in calls for i in call) == list(range(len(ids)))
    for call in calls:
        assert len({key_slot(keys[i].encode()) for i in call}) == 1
        assert call == sorted(call)
    assert [0, 2] in calls and [1, 4] in calls
    hashed = {key_slot(k.encode()) for k in keys}
    assert len(calls) == len(hashed)
