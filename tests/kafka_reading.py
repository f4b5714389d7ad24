"""Reading a test topic back from the real broker (shared by integration tests)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription

from schemas.settings import Settings


def read_topic(
    settings: Settings, topic: str, expected: int, timeout_s: float = 30.0
) -> list[Message]:
    """Every message of `topic` from the start, stopping at `expected` messages or timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"test-read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    messages: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    messages.append(msg)
    finally:
        consumer.close()
    return messages


# -- a consumer group, seen from the broker: what tests wait on instead of sleeping -------


def _admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The next offset of every partition of `topic` (what a caught-up group commits)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "test-ends"}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (-1: none yet)."""
    partitions = [TopicPartition(topic, p) for p in end_offsets(settings, topic)]
    request = ConsumerGroupTopicPartitions(group, partitions)
    admin = _admin(settings)  # referenced until the answer is in: its handle serves it
    futures = admin.list_consumer_group_offsets([request])
    try:
        result = futures[group].result(timeout=30)
    except KafkaException:
        return {}  # the coordinator is still being elected
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def group_committed_to_end(settings: Settings, group: str, topic: str) -> bool:
    """Every partition of `topic` committed up to its end: the group has nothing left to
    process, so a count read now is final (no batch is still in flight)."""
    ends = end_offsets(settings, topic)
    committed = committed_offsets(settings, group, topic)
    return all(committed.get(p, -1) == end for p, end in ends.items() if end > 0)


def _describe(settings: Settings, group: str) -> ConsumerGroupDescription | None:
    admin = _admin(settings)
    futures = admin.describe_consumer_groups([group])
    try:
        return futures[group].result(timeout=30)
    except KafkaException:
        return None


def group_rebalancing(settings: Settings, group: str) -> bool:
    """The broker is moving the group's partitions (a member joined or left)."""
    description = _describe(settings, group)
    return description is not None and description.state in {
        ConsumerGroupState.PREPARING_REBALANCING,
        ConsumerGroupState.COMPLETING_REBALANCING,
    }


def group_members(settings: Settings, group: str) -> int:
    """Members of a stable consumer group that hold partitions (0 while it rebalances)."""
    description = _describe(settings, group)
    if description is None or description.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in description.members if m.assignment.topic_partitions)
