"""Clustered Kafka and Redis on loopback: three KRaft nodes and a Redis Cluster, beside the
single-node stack (other ports, other folder), so both can run at once.

    interactions stack up --kafka-brokers 3 --redis-cluster 3

Why a cluster on one machine: replication, leader election and failover are what a
production deployment relies on, and they only happen with several nodes. Each Kafka node is
a combined broker+controller from the same Maven jars as the single node (`-Xmx512m`); every
topic, the consumer offsets and the transaction log are replicated to 3 with
`min.insync.replicas=2`, so one broker can die without losing an acknowledged event. Redis
runs `masters` masters with one replica each (Debian's redis-server, `cluster-enabled`),
`cluster-node-timeout` 5 s so a failover takes seconds, not the default 15 s.

Node control (`kill_kafka`, `start_kafka`, `kill_redis`, `start_redis`) is public: the fault
tests (tests/integration/cluster/) use it to kill -9 and restart single nodes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interaction_pipeline.stack.local import (
    _alive,
    _java_command,
    _our_pid,
    _port_open,
    _say,
    _stop_pid,
    _tail,
    ensure_topics,
    fetch_kafka_jars,
    new_cluster_id,
    pipeline_topics,
)
from schemas.errors import StackError
from schemas.settings import Settings

KAFKA_PORT = 29092
"""Node i (0-based) listens on KAFKA_PORT + 2i, its controller on the next port."""
REDIS_PORT = 27001
"""Redis node j listens on REDIS_PORT + j, its cluster bus on REDIS_PORT + 1000 + j."""
BUS_OFFSET = 1000
KAFKA_HEAP = "512m"
NODE_TIMEOUT_MS = 5000
START_TIMEOUT_S = 120.0
MARKER_KAFKA = "kafka.Kafka"
MARKER_REDIS = "redis-server"


@dataclass(frozen=True)
class ClusterLayout:
    """Where the cluster's nodes listen and keep their data (tests use other ports)."""

    dir: Path
    kafka_brokers: int = 3
    redis_masters: int = 3
    kafka_port: int = KAFKA_PORT
    redis_port: int = REDIS_PORT

    def __post_init__(self) -> None:
        if not 3 <= self.kafka_brokers <= 5:
            raise StackError("--kafka-brokers: a Kafka cluster here has 3 to 5 nodes")
        if not 3 <= self.redis_masters <= 8:
            raise StackError("--redis-cluster: a Redis Cluster needs 3 to 8 masters")

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> ClusterLayout:
        return cls(Path(settings.stack.dir).resolve() / "cluster", **changes)

    def broker_port(self, node: int) -> int:
        return self.kafka_port + 2 * node

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in range(self.kafka_brokers))

    @property
    def redis_ports(self) -> list[int]:
        """Masters first as created; which node is master changes with every failover."""
        return [self.redis_port + j for j in range(2 * self.redis_masters)]

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def replication_factor(self) -> int:
        return 3

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this cluster (what a worker, sink or collector is given)."""
        return base.replace(
            kafka={"bootstrap_servers": self.bootstrap_servers},
            topics={"replication_factor": self.replication_factor},
            redis={"url": self.redis_url, "cluster": True},
        )

    def environment(self) -> dict[str, str]:
        """The variables that point the pipeline at this cluster."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "TOPIC_REPLICATION_FACTOR": str(self.replication_factor),
            "REDIS_URL": self.redis_url,
            "REDIS_CLUSTER": "true",
            "REDIS_WAIT_REPLICAS": "1",
        }

    def kafka_dir(self, node: int) -> Path:
        return self.dir / f"kafka-{node + 1}"

    def redis_dir(self, port: int) -> Path:
        return self.dir / f"redis-{port}"


# --- kafka --------------------------------------------------------------------------------


def kafka_properties(layout: ClusterLayout, node: int, partitions: int) -> str:
    """One combined broker+controller of the quorum; everything replicated to 3, ISR 2."""
    port = layout.broker_port(node)
    voters = ",".join(
        f"{n + 1}@127.0.0.1:{layout.broker_port(n) + 1}" for n in range(layout.kafka_brokers)
    )
    return "\n".join(
        [
            "# Written by `interactions stack up --kafka-brokers N`; edit stack/cluster.py.",
            "process.roles=broker,controller",
            f"node.id={node + 1}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={layout.kafka_dir(node) / 'data'}",
            f"num.partitions={partitions}",
            "default.replication.factor=3",
            "min.insync.replicas=2",
            "unclean.leader.election.enable=false",
            "offsets.topic.replication.factor=3",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "share.coordinator.state.topic.replication.factor=3",
            "share.coordinator.state.topic.min.isr=2",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def _cluster_id(settings: Settings, layout: ClusterLayout) -> str:
    """One id for every node (KRaft refuses to join nodes formatted with different ids)."""
    path = layout.dir / "kafka-cluster-id"
    if path.exists():
        return path.read_text().strip()
    uuid = new_cluster_id(settings)
    path.write_text(uuid + "\n")
    return uuid


def _format(settings: Settings, layout: ClusterLayout, node: int, config: Path) -> None:
    data = layout.kafka_dir(node) / "data"
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    command = _java_command(
        settings,
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        _cluster_id(settings, layout),
        "-c",
        str(config),
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka node {node + 1} failed:\n{result.stderr}")


def kafka_pid(layout: ClusterLayout, node: int) -> int | None:
    return _our_pid(layout.kafka_dir(node) / "kafka.pid", MARKER_KAFKA)


def start_kafka(settings: Settings, layout: ClusterLayout, node: int) -> int:
    """Start one node detached (idempotent); returns its pid without waiting for it."""
    pid = kafka_pid(layout, node)
    if pid is not None:
        return pid
    port = layout.broker_port(node)
    for busy in (port, port + 1):
        if _port_open("127.0.0.1", busy):
            raise StackError(f"port {busy} is taken by something this stack did not start")
    folder = layout.kafka_dir(node)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "server.properties"
    config.write_text(kafka_properties(layout, node, settings.topics.partitions))
    _format(settings, layout, node, config)
    command = _java_command(settings, MARKER_KAFKA, str(config), log_dir=folder, heap=KAFKA_HEAP)
    with (folder / "kafka.out").open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=folder,
        )
    (folder / "kafka.pid").write_text(f"{process.pid}\n")
    return process.pid


def kill_kafka(layout: ClusterLayout, node: int) -> int:
    """kill -9 one node (a crash: no controlled shutdown); returns the pid killed."""
    pid = kafka_pid(layout, node)
    if pid is None:
        raise StackError(f"Kafka node {node + 1} is not running")
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: not _alive(pid), 30.0, f"Kafka node {node + 1} to die")
    return pid


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    from interaction_pipeline.stack.local import _quiet_logger

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 5000,
        "logger": _quiet_logger(),
    }
    return AdminClient(config)


def kafka_health(layout: ClusterLayout, topics: Iterable[str] = ()) -> tuple[int, int]:
    """(brokers registered, partitions of `topics` not fully in sync); (0, -1) if unreachable."""
    from confluent_kafka import KafkaException

    try:
        metadata = _admin(layout.bootstrap_servers).list_topics(timeout=5)
    except KafkaException:
        return 0, -1
    lagging = 0
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            return len(metadata.brokers), -1
        lagging += sum(1 for p in topic.partitions.values() if len(p.isrs) < len(p.replicas))
    return len(metadata.brokers), lagging


def wait_kafka(
    layout: ClusterLayout, topics: Iterable[str] = (), timeout: float = START_TIMEOUT_S
) -> None:
    """Until every broker is registered and every partition of `topics` is fully in sync."""
    names = list(topics)

    def healthy() -> bool:
        brokers, lagging = kafka_health(layout, names)
        return brokers == layout.kafka_brokers and lagging == 0

    logs = "\n".join(
        f"--- node {n + 1}\n{_tail(layout.kafka_dir(n) / 'server.log', 15)}"
        for n in range(layout.kafka_brokers)
    )
    _wait(healthy, timeout, f"{layout.kafka_brokers} Kafka brokers in sync", lambda: logs)


# --- redis --------------------------------------------------------------------------------


def _redis_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed: apt-get install -y redis-server")
    return found


def redis_pid(layout: ClusterLayout, port: int) -> int | None:
    return _our_pid(layout.redis_dir(port) / "redis.pid", MARKER_REDIS)


def start_redis(layout: ClusterLayout, port: int) -> None:
    """Start one cluster node (idempotent); a restarted node rejoins from its nodes.conf."""
    if redis_pid(layout, port) is not None:
        return
    if _port_open("127.0.0.1", port):
        raise StackError(f"port {port} is taken by something this stack did not start")
    folder = layout.redis_dir(port)
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        _redis_binary("redis-server"),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--protected-mode", "yes",
        "--cluster-enabled", "yes",
        "--cluster-config-file", f"nodes-{port}.conf",
        "--cluster-port", str(port + BUS_OFFSET),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        "--daemonize", "yes",
        "--dir", str(folder),
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=30, stdin=subprocess.DEVNULL)


def kill_redis(layout: ClusterLayout, port: int) -> int:
    """kill -9 one Redis node; returns the pid killed."""
    pid = redis_pid(layout, port)
    if pid is None:
        raise StackError(f"Redis node {port} is not running")
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: not _alive(pid), 30.0, f"Redis node {port} to die")
    (layout.redis_dir(port) / "redis.pid").unlink(missing_ok=True)
    return pid


def _node_client(port: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)


def redis_roles(layout: ClusterLayout) -> dict[int, str]:
    """Port -> 'master' / 'slave' / 'down' for every node (what the node says of itself)."""
    import redis

    roles: dict[int, str] = {}
    for port in layout.redis_ports:
        client = _node_client(port)
        try:
            roles[port] = str(client.info("replication")["role"])
        except redis.RedisError:
            roles[port] = "down"
        finally:
            client.close()
    return roles


def _cluster_info(port: int) -> dict[str, str]:
    import redis

    client = _node_client(port)
    try:
        raw = client.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return {}
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def redis_healthy(layout: ClusterLayout) -> bool:
    """Every node up and saying the cluster is ok, every master with a replica."""
    for port in layout.redis_ports:
        info = _cluster_info(port)
        if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
            return False
    roles = redis_roles(layout)
    return list(roles.values()).count("master") == layout.redis_masters


def wait_redis(layout: ClusterLayout, timeout: float = START_TIMEOUT_S) -> None:
    _wait(lambda: redis_healthy(layout), timeout, "the Redis Cluster to be ok")


def _create_redis_cluster(layout: ClusterLayout) -> None:
    """Assign the slots once; later starts rejoin from each node's nodes.conf."""
    if _cluster_info(layout.redis_port).get("cluster_slots_assigned") == "16384":
        return
    command = [
        _redis_binary("redis-cli"),
        "--cluster",
        "create",
        *(f"127.0.0.1:{p}" for p in layout.redis_ports),
        "--cluster-replicas",
        "1",
        "--cluster-yes",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise StackError(f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}")


# --- the whole cluster --------------------------------------------------------------------


def _wait(check: Any, timeout: float, what: str, detail: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise StackError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f":\n{detail()}" if detail else "")
    )


def up(settings: Settings, layout: ClusterLayout) -> Settings:
    """Start every node that is not running, wait until healthy, create the topics; returns
    `settings` pointed at the cluster."""
    started = time.monotonic()
    layout.dir.mkdir(parents=True, exist_ok=True)
    for port in layout.redis_ports:
        start_redis(layout, port)
    _wait(lambda: all(_port_open("127.0.0.1", p) for p in layout.redis_ports), 30.0, "Redis nodes")
    _create_redis_cluster(layout)
    fetch_kafka_jars(settings)
    for node in range(layout.kafka_brokers):
        start_kafka(settings, layout, node)
    wait_redis(layout)
    _say(f"Redis Cluster ok: {layout.redis_masters} masters + replicas on {layout.redis_ports}")
    wait_kafka(layout)
    clustered = layout.settings(settings)
    ensure_topics(clustered, pipeline_topics(clustered), timeout=60.0)
    wait_kafka(layout, pipeline_topics(clustered))
    _say(
        f"Kafka cluster ok: {layout.kafka_brokers} brokers on {layout.bootstrap_servers}; "
        f"up in {time.monotonic() - started:.1f}s"
    )
    return clustered


def down(layout: ClusterLayout, purge: bool = False, *, kill: bool = False) -> None:
    """Stop every node this cluster started; purge deletes its folder. `kill` (tests that
    purge anyway) skips the brokers' controlled shutdown, which takes the last of three up
    to half a minute."""
    for node in range(layout.kafka_brokers):
        if kill and kafka_pid(layout, node) is not None:
            kill_kafka(layout, node)
    # SIGTERM every broker at once: stopped one by one, the last waits for a quorum that
    # has already gone (half a minute, then SIGKILL).
    pids = [(node, kafka_pid(layout, node)) for node in range(layout.kafka_brokers)]
    for _, pid in pids:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    for node, pid in pids:
        if pid is not None:
            _stop_pid(f"kafka node {node + 1}", pid)
    for port in layout.redis_ports:
        if kill and redis_pid(layout, port) is not None:
            kill_redis(layout, port)
        pid = redis_pid(layout, port)
        if pid is not None:
            _stop_pid(f"redis {port}", pid)
    if purge and layout.dir.exists():
        shutil.rmtree(layout.dir)
        _say(f"deleted {layout.dir}")


def status(layout: ClusterLayout) -> dict[str, Any]:
    brokers, _ = kafka_health(layout)
    return {
        "kafka": {
            "address": layout.bootstrap_servers,
            "pids": [kafka_pid(layout, n) for n in range(layout.kafka_brokers)],
            "brokers_registered": brokers,
            "answering": brokers == layout.kafka_brokers,
        },
        "redis": {
            "address": layout.redis_url,
            "roles": {str(p): r for p, r in redis_roles(layout).items()},
            "answering": redis_healthy(layout),
        },
        "environment": layout.environment(),
    }


def resident_mb(layout: ClusterLayout) -> dict[str, float]:
    """Resident memory of each node (MB), for the docs' figures."""
    pids = {f"kafka-{n + 1}": kafka_pid(layout, n) for n in range(layout.kafka_brokers)}
    pids |= {f"redis-{p}": redis_pid(layout, p) for p in layout.redis_ports}
    sizes: dict[str, float] = {}
    for name, pid in pids.items():
        if pid is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes[name] = int(line.split()[1]) / 1024
    return sizes
