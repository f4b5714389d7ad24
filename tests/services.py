"""Where the test session gets real Kafka and Redis from, in order of preference.

1. URLs given in the environment (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL): used as they are.
2. A Docker engine that answers: testcontainers with the official images.
3. Otherwise the local stack (`interactions stack`) on the configured ports; a service it had
   to start is stopped at session end, one that was already running is left running.

No mocks: every integration test talks to these real servers.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from schemas.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_IMAGE = os.environ.get("TEST_KAFKA_IMAGE", "apache/kafka:4.4.0")
REDIS_IMAGE = os.environ.get("TEST_REDIS_IMAGE", "redis:7")
CONTAINER_START_TIMEOUT_S = 120.0


@dataclass
class Service:
    """A reachable service, how it was obtained, and how to undo that (None: leave it)."""

    url: str
    origin: str
    stop: Callable[[], None] | None = None

    def close(self) -> None:
        if self.stop is not None:
            self.stop()


def load_stack() -> ModuleType:
    """The local stack module (`interactions stack`), shipped inside the package."""
    return importlib.import_module("interaction_pipeline.stack.local")


def _env_has(name: str) -> bool:
    """Settings reads the environment case-insensitively, so this check does too."""
    return any(key.upper() == name for key in os.environ)


def docker_available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (a docker CLI alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f}s")


def with_services(settings: Settings, kafka_bootstrap: str, redis_url: str) -> Settings:
    """A validated copy pointing at the services this session really uses."""
    updates = {"kafka_bootstrap_servers": kafka_bootstrap, "redis_url": redis_url}
    return Settings(**settings.model_dump() | updates)


def _local(name: str, settings: Settings, url: str) -> Service:
    stack = load_stack()
    outcome = stack.up(settings, services=[name])[name]

    def stop() -> None:
        stack.down(settings, services=[name])

    return Service(url, f"local stack ({outcome})", stop if outcome == "started" else None)


def _kafka_container_env(host_port: int) -> dict[str, str]:
    """Official apache/kafka image, one KRaft node; the host listener advertises 127.0.0.1."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "HOST://0.0.0.0:9092,BROKER://0.0.0.0:29092,CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"HOST://127.0.0.1:{host_port},BROKER://localhost:29092",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "HOST:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }


def _kafka_container(settings: Settings) -> Service:
    from testcontainers.core.container import DockerContainer

    port = _free_port()
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    container.with_envs(**_kafka_container_env(port))
    container.start()
    bootstrap = f"127.0.0.1:{port}"
    probe = Settings(**settings.model_dump() | {"kafka_bootstrap_servers": bootstrap})
    stack = load_stack()
    try:
        _wait_until(lambda: stack.kafka_answers(probe), "Kafka", CONTAINER_START_TIMEOUT_S)
        stack.ensure_topics(probe, stack.pipeline_topics(probe))
    except BaseException:
        container.stop()
        raise
    return Service(bootstrap, f"docker ({KAFKA_IMAGE})", container.stop)


def _redis_container() -> Service:
    from testcontainers.community.redis import RedisContainer

    container = RedisContainer(REDIS_IMAGE)
    container.start()
    url = f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
    return Service(url, f"docker ({REDIS_IMAGE})", container.stop)


def kafka_service(settings: Settings) -> Service:
    if _env_has("KAFKA_BOOTSTRAP_SERVERS"):
        return Service(settings.kafka.bootstrap_servers, "environment")
    if docker_available():
        return _kafka_container(settings)
    return _local("kafka", settings, settings.kafka.bootstrap_servers)


def redis_service(settings: Settings) -> Service:
    if _env_has("REDIS_URL"):
        return Service(settings.redis.url, "environment")
    if docker_available():
        return _redis_container()
    return _local("redis", settings, settings.redis.url)


def require_answering(settings: Settings) -> None:
    """Fail early and clearly when a service given in the environment is not there."""
    stack = load_stack()
    if not stack.kafka_answers(settings, timeout=10.0):
        raise RuntimeError(f"Kafka at {settings.kafka.bootstrap_servers} does not answer")
    if not stack.redis_answers(settings, timeout=5.0):
        raise RuntimeError(f"Redis at {settings.redis.url} does not answer PING")


def unique_settings(base: Settings, tmp_path: Path) -> Settings:
    """Per-test topics, Redis prefix and chDB folder, so tests never see each other's data."""
    suffix = uuid.uuid4().hex[:12]
    updates: dict[str, Any] = {
        "topic_interactions": f"{base.topics.interactions}-{suffix}",
        "topic_searches": f"{base.topics.searches}-{suffix}",
        "topic_dead_letter": f"{base.topics.dead_letter}-{suffix}",
        "redis_key_prefix": f"t{suffix}",
        "clickhouse_url": f"chdb://{tmp_path}/chdb",
    }
    return Settings(**base.model_dump() | updates)


def cleanup_unique(settings: Settings) -> None:
    """Best effort: drop a test's topics and Redis keys so a long-lived dev stack stays small."""
    import redis

    stack = load_stack()
    stack.delete_topics(settings, stack.pipeline_topics(settings))  # gone or busy: fine
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"*{settings.redis.key_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
