"""Real Kafka and Redis as local processes, for development and CI on machines without Docker.

    interactions stack up|down [--purge]|status [--json]

Kafka is the Apache broker in KRaft mode (one combined broker+controller) run from jars that
Maven fetches once into `kafka/libs` beside STACK_DIR (`.cache/kafka/libs` by default); Redis
is the Debian `redis-server`. Both listen on 127.0.0.1 only, on the ports of `Settings`
(KAFKA_BOOTSTRAP_SERVERS, REDIS_URL), and keep data, logs and pid files under STACK_DIR (a
relative STACK_DIR is relative to the current directory, like every other path setting).
ClickHouse needs nothing started: the default is the in-process chDB engine.

Every step is idempotent: `up` leaves a service alone that already answers on its port (ours
from an earlier `up`, or one started elsewhere), `down` only stops processes whose pid files
it wrote. Redis runs with `--save "" --appendonly yes`: the append-only file (fsync every
second) survives a killed server, which is all tests and development need; RDB snapshots
would only add fork pauses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from schemas.errors import StackError
from schemas.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
POM = PACKAGE_DIR / "pom.xml"
LOG4J_CONFIG = PACKAGE_DIR / "log4j2.properties"
KAFKA_VERSION = "4.4.0"
LOOPBACK = {"127.0.0.1", "localhost"}
KAFKA_START_TIMEOUT_S = 90.0
REDIS_START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 30.0
MAVEN_TIMEOUT_S = 900.0
SERVICES = ("kafka", "redis")


def _say(message: str) -> None:
    print(f"stack: {message}", flush=True)


# --- processes ----------------------------------------------------------------------------


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections there (cheap probe before a client)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """True for a live process; reaps our own exited children so they don't count as alive."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _our_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in the file if that process is alive and still the program we started."""
    pid = _read_pid(pid_file)
    if pid is None or not _alive(pid):
        return None
    cmdline = _cmdline(pid)
    return pid if (not cmdline or marker in cmdline) else None


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _stop_pid(name: str, pid: int) -> None:
    """SIGTERM for a clean shutdown (Kafka flushes, Redis fsyncs), SIGKILL if it hangs."""
    _say(f"stopping {name} (pid {pid})")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_dead(pid, STOP_TIMEOUT_S):
        return
    _say(f"{name} ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s; sending SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not _wait_dead(pid, 10.0):
        raise StackError(f"{name} (pid {pid}) survived SIGKILL")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def _require_loopback(name: str, host: str) -> None:
    if host not in LOOPBACK:
        raise StackError(
            f"{name} is configured on {host}, which does not answer; the local stack only "
            "starts services on 127.0.0.1"
        )


# --- kafka --------------------------------------------------------------------------------


def _kafka_dir(settings: Settings) -> Path:
    return Path(settings.stack.dir).resolve() / "kafka"


def _quiet_logger() -> logging.Logger:
    """librdkafka logs every refused connection; the callers here report failures themselves."""
    logger = logging.getLogger("interaction_pipeline.stack.librdkafka")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def _admin(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "socket.timeout.ms": 5000,
        "logger": _quiet_logger(),
    }
    return AdminClient(config)


def kafka_answers(settings: Settings, timeout: float = 5.0) -> bool:
    """True when the configured broker returns cluster metadata with at least one broker."""
    from confluent_kafka import KafkaException

    host, port = settings.kafka.host_port
    if not _port_open(host, port):
        return False
    try:
        metadata = _admin(settings).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def _jars_dir(settings: Settings) -> Path:
    """Broker jars live beside the stack's data (`<STACK_DIR>/../kafka/libs`), fetched once."""
    return Path(settings.stack.dir).resolve().parent / "kafka" / "libs"


def fetch_kafka_jars(settings: Settings) -> None:
    """Download the broker jars once (Maven Central, ~45 MB); a marker makes it resumable."""
    libs = _jars_dir(settings)
    marker = libs / f".complete-{KAFKA_VERSION}"
    if marker.exists():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (`mvn`) is needed once to fetch the Kafka jars: apt-get install maven"
        )
    _say(f"fetching Kafka {KAFKA_VERSION} jars with Maven into {libs} (first run only)")
    started = time.monotonic()
    command = [
        mvn,
        "-B",
        "--no-transfer-progress",
        "-Dstyle.color=never",
        "-f",
        str(POM),
        f"-Dmaven.repo.local={libs.parent.parent / 'm2'}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    try:
        subprocess.run(
            command, check=True, timeout=MAVEN_TIMEOUT_S, stdin=subprocess.DEVNULL, env=_maven_env()
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise StackError(
            f"Maven could not fetch the Kafka jars ({exc}); see its output above"
        ) from exc
    marker.write_text(KAFKA_VERSION + "\n")
    _say(f"Kafka jars fetched in {time.monotonic() - started:.1f}s")


def _maven_env() -> dict[str, str]:
    """Debian's Maven 3.8 prints stray ANSI resets into logs unless jansi.noreset is set."""
    opts = os.environ.get("MAVEN_OPTS", "")
    return os.environ | {"MAVEN_OPTS": f"{opts} -Djansi.noreset=true".strip()}


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise StackError(
            "Java 17+ is needed for the local Kafka broker: apt-get install openjdk-17-jre-headless"
        )
    return found


def _java_command(
    settings: Settings, *args: str, log_dir: Path | None = None, heap: str = "256m"
) -> list[str]:
    """A JVM command on the fetched jars; with log_dir the broker logs INFO to a file there."""
    command = [_java(), f"-Xmx{heap}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}"]
    if log_dir is not None:
        command += [
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={log_dir}",
            "-Dip.log.appender=FILE",
            "-Dip.log.level=INFO",
        ]
    return [*command, "-cp", f"{_jars_dir(settings)}/*", *args]


def server_properties(settings: Settings, data_dir: Path) -> str:
    """One KRaft node that is both broker and controller, internal topics unreplicated."""
    _, port = settings.kafka.host_port
    controller = port + 1
    return "\n".join(
        [
            "# Written by `interactions stack up` on every run; edit stack/local.py instead.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={settings.topics.partitions}",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def new_cluster_id(settings: Settings) -> str:
    """A fresh KRaft cluster id from Kafka's own StorageTool (22 base64url characters)."""
    uuid = subprocess.run(
        _java_command(settings, "kafka.tools.StorageTool", "random-uuid"),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    if len(uuid) != 22:
        raise StackError(f"StorageTool random-uuid printed {uuid!r}, expected a 22-char id")
    return uuid


def _format_storage(settings: Settings, config: Path, data_dir: Path) -> None:
    """Format the log dir once with a fresh cluster id (KRaft refuses unformatted dirs)."""
    if (data_dir / "meta.properties").exists():
        return
    uuid = new_cluster_id(settings)
    result = subprocess.run(
        _java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--ignore-formatted",
            "-t",
            uuid,
            "-c",
            str(config),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")
    _say(f"formatted Kafka storage in {data_dir} (cluster id {uuid})")


def _spawn_kafka(settings: Settings, kafka_dir: Path, config: Path) -> int:
    """Start the broker detached (own session), so it outlives the caller; returns its pid."""
    out = (kafka_dir / "kafka.out").open("ab")
    with out:
        process = subprocess.Popen(
            _java_command(settings, "kafka.Kafka", str(config), log_dir=kafka_dir, heap="1g"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=kafka_dir,
        )
    (kafka_dir / "kafka.pid").write_text(f"{process.pid}\n")
    return process.pid


def _wait_kafka(settings: Settings, pid: int, kafka_dir: Path) -> None:
    deadline = time.monotonic() + KAFKA_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if kafka_answers(settings, timeout=2.0):
            return
        if not _alive(pid):
            break
        time.sleep(0.5)
    state = "exited" if not _alive(pid) else f"did not answer within {KAFKA_START_TIMEOUT_S:.0f}s"
    logs = f"--- {kafka_dir / 'server.log'}\n{_tail(kafka_dir / 'server.log')}\n"
    logs += f"--- {kafka_dir / 'kafka.out'}\n{_tail(kafka_dir / 'kafka.out', 20)}"
    raise StackError(f"Kafka (pid {pid}) {state}:\n{logs}")


def _kafka_up(settings: Settings) -> str:
    host, port = settings.kafka.host_port
    kafka_dir = _kafka_dir(settings)
    pid = _our_pid(kafka_dir / "kafka.pid", "kafka.Kafka")
    if pid is None and kafka_answers(settings):
        _say(f"Kafka already answers on {host}:{port} (started elsewhere); leaving it alone")
        return "external"
    if pid is not None:
        _wait_kafka(settings, pid, kafka_dir)
        _say(f"Kafka already running (pid {pid}) on {host}:{port}")
        return "running"
    _require_loopback("Kafka", host)
    for busy in (port, port + 1):
        if _port_open(host, busy):
            raise StackError(f"port {busy} is taken by something that is not a Kafka broker")
    fetch_kafka_jars(settings)
    return _start_kafka(settings, kafka_dir)


def _start_kafka(settings: Settings, kafka_dir: Path) -> str:
    started = time.monotonic()
    data_dir = kafka_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = kafka_dir / "server.properties"
    config.write_text(server_properties(settings, data_dir))
    _format_storage(settings, config, data_dir)
    pid = _spawn_kafka(settings, kafka_dir, config)
    _wait_kafka(settings, pid, kafka_dir)
    _say(
        f"Kafka started (pid {pid}) on {settings.kafka.bootstrap_servers} "
        f"in {time.monotonic() - started:.1f}s; log {kafka_dir / 'server.log'}"
    )
    return "started"


def ensure_topics(
    settings: Settings,
    names: Iterable[str],
    partitions: int | None = None,
    timeout: float = 30.0,
) -> None:
    """Create topics if missing (already-exists is fine) and wait until metadata shows them."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.cimpl import NewTopic

    wanted = list(dict.fromkeys(names))
    count = partitions or settings.topics.partitions
    admin = _admin(settings)
    new = [
        NewTopic(n, num_partitions=count, replication_factor=settings.topics.replication_factor)
        for n in wanted
    ]
    for name, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StackError(f"could not create topic {name!r}: {exc}") from exc
    _wait_topics(admin, wanted, timeout)


def delete_topics(settings: Settings, names: Iterable[str], timeout: float = 15.0) -> list[str]:
    """Best effort (tests, benchmarks): delete topics; returns why any could not be deleted
    (already gone, broker busy), for the caller to report or ignore."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    admin = _admin(settings)  # kept referenced: the futures fail once the client is freed
    problems: list[str] = []
    for name, future in admin.delete_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:  # cleanup only: report, never raise
            problems.append(f"{name}: {exc}")
    return problems


def _wait_topics(admin: Any, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if all(n in topics and topics[n].error is None and topics[n].partitions for n in names):
            return
        time.sleep(0.2)
    raise StackError(f"topics {names} did not appear in metadata within {timeout:.0f}s")


def pipeline_topics(settings: Settings) -> list[str]:
    return [settings.topics.interactions, settings.topics.searches, settings.topics.dead_letter]


# --- redis --------------------------------------------------------------------------------


def _redis_dir(settings: Settings) -> Path:
    return Path(settings.stack.dir).resolve() / "redis"


def redis_answers(settings: Settings, timeout: float = 2.0) -> bool:
    """True when the configured Redis answers PING."""
    import redis

    host, port = settings.redis.host_port
    if not _port_open(host, port):
        return False
    client = redis.Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _redis_command(settings: Settings, redis_dir: Path, binary: str) -> list[str]:
    _, port = settings.redis.host_port
    return [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--daemonize",
        "yes",
        "--dir",
        str(redis_dir),
        "--pidfile",
        str(redis_dir / "redis.pid"),
        "--logfile",
        str(redis_dir / "redis.log"),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
    ]


def _redis_up(settings: Settings) -> str:
    host, port = settings.redis.host_port
    redis_dir = _redis_dir(settings)
    pid = _our_pid(redis_dir / "redis.pid", "redis-server")
    if pid is None and redis_answers(settings):
        _say(f"Redis already answers on {host}:{port} (started elsewhere); leaving it alone")
        return "external"
    if pid is not None:
        _wait_redis(settings, redis_dir)
        _say(f"Redis already running (pid {pid}) on {host}:{port}")
        return "running"
    _require_loopback("Redis", host)
    if _port_open(host, port):
        raise StackError(f"port {port} is taken by something that does not answer Redis PING")
    return _start_redis(settings, redis_dir)


def _start_redis(settings: Settings, redis_dir: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(
            "redis-server is not installed: run `apt-get install -y redis-server` "
            "(.ci/run and `make` do this for you)"
        )
    started = time.monotonic()
    redis_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        _redis_command(settings, redis_dir, binary),
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    _wait_redis(settings, redis_dir)
    pid = _read_pid(redis_dir / "redis.pid")
    _say(f"Redis started (pid {pid}) on {settings.redis.url} in {time.monotonic() - started:.1f}s")
    return "started"


def _wait_redis(settings: Settings, redis_dir: Path) -> None:
    """PING until it answers (a large append-only file takes a moment to load)."""
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if redis_answers(settings, timeout=1.0):
            return
        time.sleep(0.2)
    raise StackError(f"Redis did not answer PING:\n{_tail(redis_dir / 'redis.log')}")


# --- public api ---------------------------------------------------------------------------


def up(settings: Settings, services: Iterable[str] = SERVICES) -> dict[str, str]:
    """Start what is not running; returns per service 'started', 'running' or 'external'."""
    chosen = set(services)
    result: dict[str, str] = {}
    if "redis" in chosen:
        result["redis"] = _redis_up(settings)
    if "kafka" in chosen:
        result["kafka"] = _kafka_up(settings)
        ensure_topics(settings, pipeline_topics(settings))
        _say(
            f"topics ready: {', '.join(pipeline_topics(settings))} "
            f"({settings.topics.partitions} partitions)"
        )
    return result


def down(settings: Settings, purge: bool = False, services: Iterable[str] = SERVICES) -> None:
    """Stop the processes this stack started (never foreign ones); purge also deletes data."""
    chosen = set(services)
    targets = [
        ("kafka", _kafka_dir(settings), "kafka.pid", "kafka.Kafka"),
        ("redis", _redis_dir(settings), "redis.pid", "redis-server"),
    ]
    for name, folder, pid_name, marker in targets:
        if name not in chosen:
            continue
        pid = _our_pid(folder / pid_name, marker)
        if pid is None:
            _say(f"{name} is not running from {folder}")
        else:
            _stop_pid(name, pid)
        (folder / pid_name).unlink(missing_ok=True)
        if purge and folder.exists():
            shutil.rmtree(folder)
            _say(f"deleted {folder}")


def status(settings: Settings) -> dict[str, dict[str, Any]]:
    """What runs where and whether it answers; the CLI exits nonzero unless both answer."""
    kafka_pid = _our_pid(_kafka_dir(settings) / "kafka.pid", "kafka.Kafka")
    redis_pid = _our_pid(_redis_dir(settings) / "redis.pid", "redis-server")
    return {
        "kafka": {
            "running": kafka_pid is not None,
            "pid": kafka_pid,
            "address": settings.kafka.bootstrap_servers,
            "answering": kafka_answers(settings),
        },
        "redis": {
            "running": redis_pid is not None,
            "pid": redis_pid,
            "address": settings.redis.url,
            "answering": redis_answers(settings),
        },
        "clickhouse": {
            "running": settings.clickhouse.chdb_path is not None,
            "pid": None,
            "address": settings.clickhouse.url,
            "answering": None,
        },
    }


def all_answering(info: dict[str, dict[str, Any]]) -> bool:
    return all(entry["answering"] is not False for entry in info.values())


def print_status(info: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="interaction-pipeline local stack")
    for column in ("service", "process", "pid", "address", "answering"):
        table.add_column(column)
    for name, entry in info.items():
        process = _process_label(name, entry)
        answering = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}[entry["answering"]]
        table.add_row(name, process, str(entry["pid"] or "-"), entry["address"], answering)
    Console().print(table)


def _process_label(name: str, entry: dict[str, Any]) -> str:
    if name == "clickhouse":
        return "in-process chDB" if entry["running"] else "server (not managed here)"
    if entry["running"]:
        return "running (ours)"
    return "external" if entry["answering"] else "stopped"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local Kafka + Redis for interaction-pipeline.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start Kafka and Redis (idempotent) and create the topics")
    stop = commands.add_parser("down", help="stop what `up` started")
    stop.add_argument("--purge", action="store_true", help="also delete their data and logs")
    show = commands.add_parser("status", help="show what runs; exit 1 unless all answer")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        return _run(args, settings)
    except (StackError, subprocess.SubprocessError) as exc:
        print(f"stack: error: {exc}", file=sys.stderr, flush=True)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        up(settings)
        return 0
    if args.command == "down":
        down(settings, purge=args.purge)
        return 0
    info = status(settings)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print_status(info)
    return 0 if all_answering(info) else 1


if __name__ == "__main__":
    sys.exit(main())
