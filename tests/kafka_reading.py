"""Reading a test topic back from the real broker (shared by integration tests)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message

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
