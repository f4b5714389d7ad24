"""The popularity agent and its sweeper timer, registered on a Faust app.

One agent with concurrency 1 reads the interactions topic in batches
(`stream.take_events(max_, within)`): faust-streaming commits offsets out of order with
concurrency > 1 (faust-streaming issue #606) and its own exactly-once mode is unreliable, so
exactly-once comes from the Redis side (offset watermarks applied atomically with the counts;
see stream_processors/lua/apply.lua). Faust acks a batch only after `process` returns.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import TP, StreamT

from schemas.settings import Settings
from stream_processors._faust_tuning import RawSchema
from stream_processors._runtime import PopularityRuntime

AGENT_NAME = "popularity"


def register(app: faust.App, settings: Settings, runtime: PopularityRuntime) -> None:
    """Declare the source topic, the agent and the sweeper timer on `app`."""
    source = app.topic(settings.topics.interactions, schema=RawSchema())

    @app.agent(source, name=AGENT_NAME, concurrency=1)
    async def popularity(stream: StreamT[bytes]) -> None:
        """Apply batches of interaction events to Redis, exactly once."""
        batches = cast(Stream[bytes], stream).take_events(
            settings.worker.batch_size, within=settings.worker.batch_within_s
        )
        async for events in batches:
            await runtime.process([e.message for e in events])

    @app.timer(settings.worker.sweep_interval_s, name="popularity-sweeper")  # type: ignore[untyped-decorator]
    async def sweeper() -> None:
        """Subtract aged hour buckets (owned partitions only, driven by the due index)."""
        if app.rebalancing:
            return
        owned = _owned(app, settings.topics.interactions)
        await runtime.sweep(settings.topics.interactions, [tp.partition for tp in owned])
        if owned:
            highwaters = await app.consumer.highwaters(*owned)
            runtime.observe_lag({(tp.topic, tp.partition): hw for tp, hw in highwaters.items()})

    @app.timer(settings.erasure.refresh_s, name="tombstone-refresh")  # type: ignore[untyped-decorator]
    async def tombstones() -> None:
        """Learn of new deletions and acknowledge them while idle (GDPR erasure waits)."""
        await runtime.refresh_tombstones()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def retire(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        await runtime.retire()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode stub: union of callables
    def on_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Another worker may write our features' trending scores now: stop skipping."""
        runtime.forget_published()


def _owned(app: faust.App, topic: str) -> list[TP]:
    return sorted(tp for tp in app.consumer.assignment() if tp.topic == topic)
