"""Liveness and readiness.

`/healthz` says the process serves HTTP (restart it if not). `/readyz` says whether it can do
its job right now: every named check (Kafka, Redis, ClickHouse, ...) runs in a worker thread
with a time limit, concurrently, and the answer is 503 when any fails (take it out of the load
balancer, do not restart it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis
from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Response

from interaction_pipeline.http.models import CheckResult, Liveness, Readiness
from schemas.settings import Settings
from sinks import ClickHouseBackend

Check = Callable[[float], str | None]
"""Called with a timeout in seconds; returns None when healthy, else the reason."""

CHECK_TIMEOUT_S: Final = 3.0


class KafkaCheck:
    """The broker answers a metadata request and the pipeline's topics exist."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AdminClient | None = None

    def __call__(self, timeout: float) -> str | None:
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self._settings.kafka.bootstrap_servers})
        topics = (self._settings.topics.interactions, self._settings.topics.searches)
        try:
            metadata = self._admin.list_topics(timeout=timeout)
        except Exception as exc:  # KafkaException: broker down or unreachable
            return f"broker did not answer: {exc}"
        missing = [t for t in topics if t not in metadata.topics]
        return f"missing topic(s): {', '.join(missing)}" if missing else None

    def close(self) -> None:
        """Drop the client (librdkafka has no close: the handle goes with its last reference)."""
        self._admin = None


async def _run_check(check: Check, timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        error = await asyncio.wait_for(asyncio.to_thread(check, timeout), timeout + 1.0)
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except Exception as exc:  # a check must report, never crash the endpoint
        error = f"{type(exc).__name__}: {exc}"
    ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(ok=error is None, ms=ms, error=error)


def health_router(checks: Mapping[str, Check], timeout: float = CHECK_TIMEOUT_S) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Liveness, summary="Liveness: the process serves")
    async def healthz() -> Liveness:
        return Liveness()

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness: Kafka, Redis and ClickHouse answer",
        responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
    )
    async def readyz(response: Response) -> Readiness:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n], timeout) for n in names))
        ready = all(r.ok for r in results)
        response.status_code = 200 if ready else 503
        return Readiness(
            status="ready" if ready else "not ready", checks=dict(zip(names, results, strict=True))
        )

    return router


def clickhouse_check(backend: ClickHouseBackend) -> Callable[[float], str | None]:
    """A readiness check: None when `SELECT 1` runs, else the reason."""

    def check(_timeout: float) -> str | None:
        try:
            backend.query("SELECT 1 AS ok")
        except Exception as exc:  # BackendError, BackendBusyError, connection errors
            return str(exc)
        return None

    return check


def redis_check(client: redis.Redis[Any]) -> Callable[[float], str | None]:
    """A readiness check: None when Redis answers PING, else the reason."""

    def check(_timeout: float) -> str | None:
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"Redis does not answer: {exc}"
        return None

    return check
