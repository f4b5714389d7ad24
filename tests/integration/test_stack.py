"""The real services answer, and the client libraries the pipeline uses work against them.

Kafka 4 removed old protocol versions (KIP-896); the Faust test proves that faust-streaming
and aiokafka still consume and commit against the broker the project runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.settings import Settings
from tests import services

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("faust_probe.py")
FAUST_TIMEOUT_S = 60.0
MESSAGES = 40
COORDINATOR_WARMING_UP = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}


def _topics(settings: Settings) -> dict[str, Any]:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    return dict(admin.list_topics(timeout=10).topics)


def test_broker_answers_with_pipeline_topics(service_settings: Settings) -> None:
    topics = _topics(service_settings)
    for name in services.load_stack().pipeline_topics(service_settings):
        assert name in topics, f"{name} missing; have {sorted(topics)}"
        assert len(topics[name].partitions) == service_settings.topics.partitions


def test_unique_topics_are_created(unique_settings: Settings) -> None:
    topics = _topics(unique_settings)
    for name in services.load_stack().pipeline_topics(unique_settings):
        assert len(topics[name].partitions) == unique_settings.topics.partitions


def test_redis_answers_ping(unique_settings: Settings) -> None:
    client = redis.Redis.from_url(unique_settings.redis.url, socket_timeout=5)
    try:
        assert client.ping()
        key = f"{unique_settings.redis.key_prefix}:probe"
        client.set(key, "1", ex=60)
        assert client.get(key) == b"1"
    finally:
        client.close()


def _produce(settings: Settings, topic: str, count: int) -> set[str]:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "acks": "all"})
    values = {f"message-{i}" for i in range(count)}
    for value in sorted(values):
        producer.produce(topic, key=value.encode(), value=value.encode())
    assert producer.flush(30) == 0, "messages were not delivered"
    return values


def _ends(settings: Settings, topic: str) -> list[TopicPartition]:
    """High watermark of every partition: where a fully caught-up group has committed."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "probe-watermarks"}
    )
    try:
        ends = []
        for partition in range(settings.topics.partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends.append(TopicPartition(topic, partition, high))
        return ends
    finally:
        consumer.close()


def _committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        return {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def _start_probe(
    settings: Settings, topic: str, group: str, tmp_path: Path
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PROBE_BOOTSTRAP": settings.kafka.bootstrap_servers,
        "PROBE_TOPIC": topic,
        "PROBE_APP_ID": group,
        "PROBE_DATADIR": str(tmp_path / "faust-data"),
        "PROBE_OUT": str(tmp_path / "consumed.txt"),
    }
    log = (tmp_path / "faust.log").open("wb")
    with log:
        return subprocess.Popen(
            # -P: the probe's folder is not put on sys.path, so the test packages beside it
            # (tests/integration/http, ...) cannot shadow the standard library's modules.
            [sys.executable, "-P", str(PROBE), "worker", "-l", "info"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets Faust leave the group cleanly; the group is killed if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _forget_group(settings: Settings, group: str) -> None:
    """Best effort: drop the probe's group and Faust's leader topic from a long-lived broker."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    futures = [
        *admin.delete_topics([f"{group}-__assignor-__leader"], request_timeout=15).values(),
        *admin.delete_consumer_groups([group], request_timeout=15).values(),
    ]
    for future in futures:
        with contextlib.suppress(Exception):
            future.result(timeout=15)


def _wait_committed(
    settings: Settings, group: str, ends: list[TopicPartition], process: subprocess.Popen[bytes]
) -> dict[int, int]:
    want = {tp.partition: tp.offset for tp in ends}
    committed: dict[int, int] = {}
    deadline = time.monotonic() + FAUST_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            committed = _committed(settings, group, ends[0].topic)
        except KafkaException as exc:
            # A fresh broker creates __consumer_offsets on first use: NOT_COORDINATOR for a bit.
            if exc.args[0].code() not in COORDINATOR_WARMING_UP:
                raise
        if committed and all(committed[p] == want[p] for p in want if want[p] > 0):
            return committed
        time.sleep(1.0)
    return committed


def test_faust_agent_consumes_and_commits(unique_settings: Settings, tmp_path: Path) -> None:
    topic = unique_settings.topics.interactions
    sent = _produce(unique_settings, topic, MESSAGES)
    ends = _ends(unique_settings, topic)
    assert sum(tp.offset for tp in ends) == MESSAGES
    group = f"probe-{uuid.uuid4().hex[:12]}"
    process = _start_probe(unique_settings, topic, group, tmp_path)
    try:
        committed = _wait_committed(unique_settings, group, ends, process)
    finally:
        _stop(process)
        _forget_group(unique_settings, group)
    log = (tmp_path / "faust.log").read_text(errors="replace")[-4000:]
    consumed = tmp_path / "consumed.txt"
    received = set(consumed.read_text().split()) if consumed.exists() else set()
    assert received == sent, f"faust consumed {len(received)}/{len(sent)}; log:\n{log}"
    want = {tp.partition: tp.offset for tp in ends if tp.offset > 0}
    assert {p: committed.get(p) for p in want} == want, f"committed {committed}; log:\n{log}"
