"""Running the pipeline's long-lived commands as child processes (the demo, tests, benches).

Each child gets the parent's settings through its environment (`settings_env`), runs in its
own session so that stopping it also stops anything it started, and writes its output to a
log file. Stopping is SIGTERM, a grace period, then SIGKILL: never left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from confluent_kafka import Consumer, TopicPartition

from schemas.settings import Settings, all_env_names

CLI = (sys.executable, "-m", "interaction_pipeline.cli.main")
"""The `interactions` command of this interpreter (works without the console script)."""


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which `Settings()` equals `settings` (secrets included).

    Variables that name a setting (old names too) are removed from `base` first, so the child
    sees exactly these values.
    """
    names = all_env_names()
    source = base if base is not None else os.environ
    env = {k: v for k, v in source.items() if k.upper() not in names}
    return env | settings.environment()


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """The demo's child processes; a context manager that always stops every one."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._env = settings_env(settings)
        self._log_dir = log_dir
        self._children: list[Child] = []

    def start(self, name: str, args: Sequence[str]) -> Child:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [*CLI, *args],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log_path, log)
        self._children.append(child)
        return child

    def check_alive(self) -> None:
        """Raise with the child's last log lines if one has exited."""
        for child in self._children:
            if not child.running:
                raise RuntimeError(
                    f"`{child.name}` exited with code {child.process.returncode}; "
                    f"last lines of {child.log_path}:\n{child.tail()}"
                )

    def stop(self, child: Child, grace_s: float = 20.0) -> int | None:
        """SIGTERM its process group, wait, then SIGKILL; returns the exit code."""
        if child.running:
            _signal_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait(10)
        else:
            # The leader is gone; members of its group may not be.
            _signal_group(child.process, signal.SIGKILL)
        child._log.close()
        if child in self._children:
            self._children.remove(child)
        return child.process.returncode

    def stop_all(self) -> None:
        for child in reversed(list(self._children)):
            self.stop(child)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the child leads its own session: pgid == pid


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout_s: float,
    *,
    children: Children | None = None,
    interval_s: float = 0.5,
) -> None:
    """Poll `check` until true; fail early if a child died, and with `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        if children is not None:
            children.check_alive()
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)


def consumer_lag(settings: Settings, group: str, topics: list[str]) -> int:
    """Messages in `topics` not yet committed by consumer group `group`."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in metadata.topics[topic].partitions
        ]
        lag = 0
        for tp in consumer.committed(partitions, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += max(0, high - (tp.offset if tp.offset >= 0 else low))
        return lag
    finally:
        consumer.close()


def service_ready(url: str) -> bool:
    """True when the HTTP service at `url` answers its readiness probe with 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False
