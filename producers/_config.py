"""librdkafka configuration for producers: safe defaults, caller overrides on top."""

from __future__ import annotations

from typing import Any, Final

from schemas.settings import Settings

SAFE_DEFAULTS: Final[dict[str, Any]] = {
    # Idempotence gives exactly-once per partition on the producer side and implies
    # acks=all, retries and max.in.flight <= 5; stated explicitly so nobody weakens it.
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "delivery.timeout.ms": 120_000,
}


def producer_config(settings: Settings, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = {"bootstrap.servers": settings.kafka.bootstrap_servers, **SAFE_DEFAULTS}
    config.update(overrides or {})
    if config.get("enable.idempotence") and config.get("acks") not in ("all", -1, "-1"):
        raise ValueError("acks must stay 'all' while enable.idempotence is on")
    return config
