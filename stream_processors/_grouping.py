"""Many features (or users) per Lua call, each call's keys inside one Redis Cluster slot.

A pipelined EVALSHA per feature cost more than the script's own work for a feature with one
event in the batch: the client encodes and parses every command, and a batch of spread
traffic touches a feature per event or two (docs/popularity.md, "Freshness"). So the worker's
scripts take many features per call. A script may only touch keys of one slot on a cluster,
so there a call holds one slot's features (a batch spread over 16,384 slots gains little);
on a single server anything goes together. Calls are bounded in items and size because Redis
runs one script at a time and readers wait behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.crc import key_slot


class _Call:
    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: list[int] = []
        self.size = 0


def call_groups(
    keys: Sequence[str],
    sizes: Sequence[int],
    *,
    cluster: bool,
    max_items: int,
    max_size: int,
) -> list[list[int]]:
    """Positions in `keys` per call: one slot per call on a cluster (`keys[i]` is item i's
    first key), at most `max_items` items and about `max_size` in `sizes` per call (an item
    bigger than that has a call of its own). Calls are in order of their first item and keep
    the items' order, so two entries of one feature (two partitions) run in batch order."""
    open_calls: dict[int, _Call] = {}
    calls: list[list[int]] = []
    for i, key in enumerate(keys):
        slot = key_slot(key.encode()) if cluster else 0
        call = open_calls.get(slot)
        if call is None or len(call.items) >= max_items or call.size + sizes[i] > max_size:
            call = open_calls[slot] = _Call()
            calls.append(call.items)
        call.items.append(i)
        call.size += sizes[i]
    return calls
