"""Faust settings and parts that set the worker's throughput; each was measured (README).

faust-streaming's per-message path costs more than the worker's own work per event, and
three of its defaults stall a worker:

- aiokafka sends one fetch request per broker at a time and leaves out partitions whose last
  fetch is still buffered, so a request that only names idle partitions long-polls them for
  Faust's fixed `fetch_max_wait_ms` (1.5 s) while the busy ones wait their turn. Faust's
  leader-election topic is such an idle partition in every app: at 5,000 events/s it held
  every other fetch for a second (`topic_disable_leader`; nothing here runs `on_leader`).
  Partitions that run dry while a backlog is worked off do the same; bigger fetches
  (`consumer_max_fetch_size`, 1 MiB by default) make each turn worth more than the wait.
- when the stream buffer passes 80 % of `stream_buffer_maxsize` Faust pauses every partition,
  and a fetcher with no active partition sleeps a full second. A buffer that holds more than
  a second of work keeps the agent fed through that sleep.

Three parts cut Faust's per-message CPU (a no-op agent: about 60 -> 35 us per message):

- `QuietMonitor` drops the per-message statistics of Faust's default sensor, which nothing here
  reads (the worker has its own Prometheus metrics and no Faust web server);
- `EagerDeliveryConsumer` hands each fetched message to the streams without four asyncio tasks
  per message (see its docstring). Offsets, acks and commits are untouched;
- `RawSchema` passes key and value bytes through, where the `raw` codec still costs a codec
  registry lookup per message (the agent reads the message, not a decoded value).
"""

from __future__ import annotations

import types
from asyncio import iscoroutine
from collections.abc import Coroutine, Generator
from time import monotonic
from typing import Any, Final

import faust
from faust.sensors import Monitor
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, AppT, Message
from mode.services import WaitArgT, WaitResults

FETCH_BYTES_PER_PARTITION: Final = 8 * 1024 * 1024
"""About 25,000 interaction events (~300 bytes each) per partition and fetch."""
STREAM_BUFFER: Final = 30_000
"""Events buffered ahead of the agent: over a second of work at 20,000 events/s (Faust's
default is 4,096). Filled only when the worker is behind: working off a backlog, the worker's
peak memory was 217 MB with this and 8 MiB fetches, 172 MB with Faust's defaults."""


def tuned_app_settings() -> dict[str, Any]:
    """The `faust.App` settings above, for the worker (and the benchmark's no-op agent)."""
    return {
        "stream_buffer_maxsize": STREAM_BUFFER,
        "consumer_max_fetch_size": FETCH_BYTES_PER_PARTITION,
        # No `on_leader` timers here; the leader topic's idle partition would otherwise sit
        # in every fetch request and hold it for Faust's fixed 1.5 s long poll.
        "topic_disable_leader": True,
        "monitor": QuietMonitor(),
    }


class QuietMonitor(Monitor):
    """Faust's monitor without per-message bookkeeping.

    Only the time a partition last delivered an event is kept: Faust's slow-stream warning
    reads it.
    """

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        return None


class RawSchema(faust.Schema[Any, Any]):
    """Key and value as the bytes Kafka delivered (None stays None)."""

    def loads_key(
        self, app: AppT, message: Message, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.key

    def loads_value(
        self, app: AppT, message: Message, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.value


class EagerDeliveryConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, delivering messages without a task each when it can.

    Faust's fetch loop hands every message to the streams with
    `wait_first(callback(message), suspend_flow.wait())`, so that a rebalance can interrupt a
    delivery stuck on a full stream buffer. `Service.wait_first` makes four tasks for that
    (delivery, suspend, stopped, crashed) and cancels three: about 40 % of a no-op agent's CPU.
    A delivery almost always finishes without waiting (the buffer has room), so its first step
    runs here, in the fetch loop, exactly as the task would have run it; only a delivery that
    does wait goes on as a task, raced against the other awaitables by Faust's own code, as
    before. While the flow is suspended (rebalancing) or the consumer is stopping, everything
    goes through Faust's code unchanged.
    """

    async def wait_first(self, *coros: WaitArgT, timeout: Any = None) -> WaitResults:
        if (
            timeout is not None
            or len(coros) != 2
            or not all(iscoroutine(c) for c in coros)
            or self.suspend_flow.is_set()
            or self.should_stop
            or self._crashed.is_set()
        ):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, other = coros
        assert isinstance(delivery, Coroutine) and isinstance(other, Coroutine)
        try:
            waits_on = delivery.send(None)
        except StopIteration as done:
            other.close()  # never started: no "never awaited" warning
            return WaitResults([delivery], [done.value], False)
        except BaseException:
            other.close()
            raise
        return await super().wait_first(_finish(delivery, waits_on), other)


async def _finish(coro: Coroutine[Any, Any, Any], waits_on: Any) -> Any:
    """The rest of a coroutine whose first step was run by hand, as a coroutine of its own."""
    return await _resume(coro, waits_on)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], waits_on: Any) -> Generator[Any, Any, Any]:
    """Delegate to `coro` from the point where it yielded `waits_on` (what `yield from`
    does, which cannot start from a half-run coroutine): the task that awaits this waits on
    what `coro` waits on, and sends or throws (cancellation) into it."""
    while True:
        try:
            sent = yield waits_on
        except BaseException as exc:
            try:
                waits_on = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waits_on = coro.send(sent)
            except StopIteration as done:
                return done.value
