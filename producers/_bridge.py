"""ProducerBridge: async callers, one long-lived InteractionProducer, one Kafka thread.

librdkafka serves delivery callbacks on whichever thread calls `poll()`, and
`InteractionProducer.send_many` keeps its per-call bookkeeping unlocked on the assumption that
one thread polls. So every producer call (validate, produce, poll) happens on one dedicated
thread; request handlers hand it a job and await an asyncio future. Many batches are in flight
at once (the thread keeps producing new jobs while earlier ones wait for acknowledgement), so
concurrent requests share librdkafka's batching instead of queueing behind each other.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from pydantic import ValidationError

from producers._delivery import BulkResult, DeliveryFailure
from producers._producer import InteractionProducer
from schemas.events import Event, InteractionEvent
from schemas.fast_validation import validate_event
from schemas.settings import Settings
from schemas.suppression import TombstoneSource
from schemas.validation import describe

log = logging.getLogger(__name__)

PRODUCER_OVERRIDES: Final = {"linger.ms": 1}
"""A request waits for its acknowledgement, so lingering adds straight to response time; a
request's events are produced together anyway, so they still share Kafka batches."""

_POLL_IDLE_S = 0.05
_POLL_BUSY_S = 0.001


@dataclass(slots=True)
class BatchOutcome:
    """What happened to each event of one request: ids of the valid ones, errors by index."""

    size: int
    event_ids: list[str | None]
    invalid: dict[int, list[str]] = field(default_factory=dict)
    not_delivered: dict[int, str] = field(default_factory=dict)
    suppressed: dict[int, str] = field(default_factory=dict)
    """Events of forgotten users, refused (schemas.suppression)."""

    @property
    def delivered(self) -> int:
        return self.size - len(self.invalid) - len(self.not_delivered) - len(self.suppressed)


@dataclass(slots=True, eq=False)
class _Job:
    raw: Sequence[Any]
    kind: type[Event]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[BatchOutcome]
    deadline: float = 0.0
    outcome: BatchOutcome | None = None
    result: BulkResult | None = None
    index_of: list[int] = field(default_factory=list)


class ProducerBridge:
    """Await `send(events, kind)`: returns once Kafka acknowledged (or refused) every event.

    `producer_factory` is the seam for tests and benchmarks; the default builds the SDK
    producer from settings. Call `start()` once and `close()` at shutdown (flushes).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        producer_factory: Callable[[Settings], InteractionProducer] | None = None,
        ack_timeout_s: float | None = None,
        tombstones: TombstoneSource | None = None,
    ) -> None:
        self._settings = settings
        self._factory = producer_factory or partial(_default_producer, tombstones=tombstones)
        self._ack_timeout_s = ack_timeout_s or settings.http.ack_timeout_s
        self._context = {"max_future_skew_s": settings.events.max_future_skew_s}
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._producer: InteractionProducer | None = None
        self._thread: threading.Thread | None = None

    @property
    def producer(self) -> InteractionProducer:
        if self._producer is None:
            raise RuntimeError("ProducerBridge.start() was not called")
        return self._producer

    def start(self) -> None:
        if self._thread is not None:
            return
        self._producer = self._factory(self._settings)
        self._thread = threading.Thread(target=self._run, name="kafka-producer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs, wait for the in-flight ones, flush the producer."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout)
        self._thread = None
        self._producer = None

    async def send(
        self, events: Sequence[Any], kind: type[Event] = InteractionEvent
    ) -> BatchOutcome:
        if self._thread is None:
            raise RuntimeError("ProducerBridge.start() was not called")
        loop = asyncio.get_running_loop()
        job = _Job(events, kind, loop, loop.create_future())
        self._jobs.put(job)
        return await job.future

    # -- the Kafka thread ------------------------------------------------------------------
    def _run(self) -> None:
        producer = self.producer
        inflight: list[_Job] = []
        accepting = True
        while accepting or inflight:
            # Idle: block on the job queue. Busy: block in librdkafka, which serves the
            # delivery reports the in-flight jobs wait for, and pick up new jobs between polls.
            for job in self._take(0.0 if inflight else _POLL_IDLE_S):
                if job is None:
                    accepting = False
                else:
                    try:
                        self._start_job(producer, job, inflight)
                    except Exception as exc:  # a bug must fail the request, not hang it
                        log.exception("producer job failed")
                        job.loop.call_soon_threadsafe(_set_exception, job.future, exc)
            producer.poll(_POLL_BUSY_S if inflight else 0)
            inflight = self._settle(inflight)
        try:
            producer.flush(self._ack_timeout_s)
        except Exception as exc:  # every request was answered already; say what is left
            log.warning("Kafka producer at shutdown: %s", exc)

    def _take(self, timeout: float) -> list[_Job | None]:
        jobs: list[_Job | None] = []
        try:
            jobs.append(self._jobs.get(timeout=timeout) if timeout else self._jobs.get_nowait())
            while True:
                jobs.append(self._jobs.get_nowait())
        except queue.Empty:
            pass
        return jobs

    def _settle(self, inflight: list[_Job]) -> list[_Job]:
        now = time.monotonic()
        still: list[_Job] = []
        for job in inflight:
            if _finished(job):
                self._resolve(job)
            elif now > job.deadline:
                self._resolve(job, timed_out=True)
            else:
                still.append(job)
        return still

    def _start_job(self, producer: InteractionProducer, job: _Job, inflight: list[_Job]) -> None:
        outcome = BatchOutcome(size=len(job.raw), event_ids=[None] * len(job.raw))
        job.outcome = outcome
        valid: list[Event] = []
        for index, raw in enumerate(job.raw):
            try:
                event = validate_event(job.kind, raw, self._context)
            except ValidationError as exc:
                outcome.invalid[index] = describe(exc)
                continue
            except (TypeError, ValueError) as exc:
                outcome.invalid[index] = [f"event: {exc}"]
                continue
            refusal = producer.refusal(event)
            if refusal is not None:
                outcome.suppressed[index] = refusal
                continue
            outcome.event_ids[index] = str(event.event_id)
            job.index_of.append(index)
            valid.append(event)
        job.deadline = time.monotonic() + self._ack_timeout_s
        try:
            job.result = producer.send_many(valid, kind=job.kind, wait=False)
        except Exception as exc:  # queue full for too long, broker config error, ...
            for index in job.index_of:
                outcome.not_delivered[index] = f"not queued: {exc}"
            self._resolve(job)
            return
        if _finished(job):
            self._resolve(job)
        else:
            inflight.append(job)

    def _resolve(self, job: _Job, *, timed_out: bool = False) -> None:
        outcome = job.outcome
        assert outcome is not None
        if job.result is not None:
            for failure in job.result.failed:
                outcome.not_delivered[_original(job, failure)] = failure.reason
        if timed_out:
            # Which events are still unacknowledged is not known per index, so every one not
            # reported failed is marked unconfirmed. Retrying is safe: event_id is the
            # idempotency key downstream.
            reason = (
                f"not acknowledged within {self._ack_timeout_s:g} s "
                "(may still arrive; retry with the same event_id)"
            )
            for index in job.index_of:
                outcome.not_delivered.setdefault(index, reason)
        job.loop.call_soon_threadsafe(_set_result, job.future, outcome)


def _default_producer(
    settings: Settings, *, tombstones: TombstoneSource | None = None
) -> InteractionProducer:
    return InteractionProducer(settings, config=PRODUCER_OVERRIDES, tombstones=tombstones)


def _finished(job: _Job) -> bool:
    result = job.result
    return result is not None and result.delivered + len(result.failed) >= result.accepted


def _original(job: _Job, failure: DeliveryFailure) -> int:
    return job.index_of[failure.index] if failure.index is not None else -1


def _set_exception(future: asyncio.Future[BatchOutcome], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _set_result(future: asyncio.Future[BatchOutcome], outcome: BatchOutcome) -> None:
    if not future.done():  # the client may have gone away and the task been cancelled
        future.set_result(outcome)


__all__ = ["BatchOutcome", "ProducerBridge"]
