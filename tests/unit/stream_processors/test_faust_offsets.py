"""The worker's consumer: skipped events are never committed, and every assigned partition is
positioned explicitly (stream_processors/_faust_offsets.py).

These pin the two decisions with the worker's real Faust consumer, its Kafka calls replaced
where they would need a broker. No end-to-end test fails with the two fixes switched off:
the deterministic rebalance test (test_popularity_rebalance_held.py) passes with Faust's own
`perform_seek` and `ack`, because aiokafka gives every partition a fresh position after each
rebalance (docs/testing.md, "Mutation checks"). So these unit tests are what holds the
decisions in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

import pytest
from faust.types.tuples import TP, ConsumerMessage

from schemas.settings import Settings
from stream_processors._faust_offsets import SafeOffsetsConsumer
from stream_processors.app import create_app

pytestmark = pytest.mark.unit

TOPIC = "interactions-offsets-test"


@pytest.fixture
def consumer() -> Iterator[SafeOffsetsConsumer]:
    app, _runtime = create_app(Settings(topic_interactions=TOPIC))
    app.topics._acking_topics.add(TOPIC)  # type: ignore[attr-defined]  # what subscribing does
    consumer = app.consumer
    assert isinstance(consumer, SafeOffsetsConsumer)
    yield consumer


def _message(offset: int, partition: int = 0) -> ConsumerMessage:
    return ConsumerMessage(TOPIC, partition, offset, 0.0, 0, None, b"k", b"v", None)


def test_an_event_the_agent_received_is_acked_and_becomes_committable(
    consumer: SafeOffsetsConsumer,
) -> None:
    tp = TP(TOPIC, 0)
    for offset in (0, 1, 2):
        message = _message(offset)
        message.tracked = True  # the stream does this before handing an event to the agent
        assert consumer.ack(message)
    assert consumer._new_offset(tp) == 3


def test_an_event_the_stream_skipped_is_not_acked_so_commits_stop_before_it(
    consumer: SafeOffsetsConsumer,
) -> None:
    tp = TP(TOPIC, 0)
    processed, skipped, after = _message(0), _message(1), _message(2)
    processed.tracked = after.tracked = True
    assert consumer.ack(processed)
    assert not consumer.ack(skipped)  # Faust acks skipped events; this consumer refuses
    assert skipped.acked  # settled, so Faust does not offer it again
    assert consumer.ack(after)
    assert consumer._new_offset(tp) == 1  # the next owner starts at the skipped event


class _Positions:
    """The broker side of positioning: committed offsets, earliest offsets, seeks."""

    def __init__(self, committed: Mapping[TP, int | None], earliest: int) -> None:
        self.committed = dict(committed)
        self.earliest = earliest
        self.seeks: dict[TP, int] = {}

    def install(self, consumer: SafeOffsetsConsumer) -> None:
        async def seek_to_committed() -> Mapping[TP, int | None]:
            return self.committed

        async def earliest_offsets(*tps: TP) -> Mapping[TP, int]:
            return dict.fromkeys(tps, self.earliest)

        async def seek_wait(partitions: Mapping[TP, int]) -> None:
            self.seeks.update(partitions)

        consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign,assignment]
        consumer.earliest_offsets = earliest_offsets  # type: ignore[method-assign]
        consumer.seek_wait = seek_wait  # type: ignore[method-assign]
        consumer.assignment = lambda: set(self.committed)  # type: ignore[method-assign]


def test_partitions_without_a_committed_offset_are_sent_to_the_earliest_offset(
    consumer: SafeOffsetsConsumer,
) -> None:
    committed, never, zero = TP(TOPIC, 0), TP(TOPIC, 1), TP(TOPIC, 2)
    positions = _Positions({committed: 120, never: None, zero: 0}, earliest=7)
    positions.install(consumer)
    asyncio.run(consumer.perform_seek())
    # aiokafka already sought `committed` to 120; the other two would stay where the
    # fetcher was, past events the agent never got
    assert positions.seeks == {never: 7, zero: 7}


def test_with_auto_offset_reset_latest_nothing_is_moved(consumer: SafeOffsetsConsumer) -> None:
    consumer.app.conf.consumer_auto_offset_reset = "latest"
    positions = _Positions({TP(TOPIC, 0): None}, earliest=0)
    positions.install(consumer)
    asyncio.run(consumer.perform_seek())
    assert positions.seeks == {}
