"""InteractionProducer: the Python SDK that backends use to emit events.

Validation happens before anything is queued, so a bad event raises at the call site
(`pydantic.ValidationError` naming the field); delivery happens in the background through
librdkafka, and every failed delivery is reported: to an optional callback, and by `flush()`
raising `DeliveryError`. Nothing fails silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import orjson
from confluent_kafka import KafkaError, Message, Producer
from pydantic import ValidationError

from producers._config import producer_config
from producers._delivery import BulkResult, DeliveryError, DeliveryFailure
from schemas.errors import DeliveryTimeoutError, ProducerQueueFullError, SuppressedUserError
from schemas.events import Event, InteractionEvent, SearchEvent
from schemas.fast_validation import fast_interaction, validate_event
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from schemas.suppression import ANONYMOUS_PREFIX, TombstoneSource
from schemas.topics import Topics, interaction_key, search_key
from schemas.validation import describe
from schemas.wire import HEADER_EVENT_KIND, HEADER_SCHEMA_VERSION, encode

EventInput = InteractionEvent | SearchEvent | Mapping[str, Any]
DeliveryCallback = Callable[[Event, DeliveryFailure | None], None]

_QUEUE_FULL_WAIT_S = 0.05
_POLL_EVERY = 16
"""Serve delivery reports every 16 sends rather than after each: a poll costs about as much
as a produce, and the reports are the same, served in small groups (flush and poll serve the
rest)."""
_HEADERS_I: list[tuple[str, str | bytes | None]] = [
    (HEADER_SCHEMA_VERSION, b"1"),
    (HEADER_EVENT_KIND, b"interaction"),
]
_HEADERS_S: list[tuple[str, str | bytes | None]] = [
    (HEADER_SCHEMA_VERSION, b"1"),
    (HEADER_EVENT_KIND, b"search"),
]
"""Built once: librdkafka copies headers on produce, so one list serves every message."""
_QUEUE_FULL_MAX_WAIT_S = 30.0


class InteractionProducer:
    """Validate, optionally pseudonymise, and publish events to Kafka with delivery reports.

    Use as a context manager (flushes on exit) or call `flush()` yourself. `on_delivery`, if
    given, is called from `poll()`/`flush()` for every event with `None` or the failure.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        config: dict[str, Any] | None = None,
        on_delivery: DeliveryCallback | None = None,
        tombstones: TombstoneSource | None = None,
    ) -> None:
        """`tombstones` (e.g. `stream_processors.suppression.RedisTombstones`) makes `send`
        refuse events of forgotten users with `SuppressedUserError`; without it the worker
        and the sink still drop them downstream."""
        self._settings = settings
        self._tombstones = tombstones
        self._topics = Topics.from_settings(settings)
        self._hmac_key = (
            settings.privacy.user_id_hmac_key.get_secret_value()
            if settings.privacy.user_id_hmac_key
            else None
        )
        self._on_delivery = on_delivery
        self._producer = Producer(producer_config(settings, config))
        self._lock = threading.Lock()
        self._failures: list[DeliveryFailure] = []
        self._failure_report = _FailureReport(self._lock, self._failures)
        self._sends_since_poll = 0
        self._validation_context = {"max_future_skew_s": settings.events.max_future_skew_s}

    # -- validation ------------------------------------------------------------------------
    def _prepare(self, model: type[Event], event: EventInput) -> Event:
        if type(event) is dict or isinstance(event, Mapping):  # the ABC check costs 0.3 us
            event = validate_event(model, event, self._validation_context)
        elif not isinstance(event, model):
            raise TypeError(f"expected {model.__name__} or a mapping, got {type(event).__name__}")
        return self._as_stored(event)

    def _as_stored(self, event: Event) -> Event:
        """Ids hashed when a key is set; refused when its user was forgotten."""
        if self._hmac_key and (event.user_id is not None or event.anonymous_id is not None):
            event = event.model_copy(update=self._hashed_ids(event))
        if self._tombstones is not None:
            reason = self._refusal(event)
            if reason is not None:
                raise SuppressedUserError(reason)
        return event

    def _hashed_ids(self, event: Event) -> dict[str, str]:
        assert self._hmac_key is not None
        return {
            name: hash_user_id(value, self._hmac_key)
            for name, value in (("user_id", event.user_id), ("anonymous_id", event.anonymous_id))
            if value is not None
        }

    def _refusal(self, stored: Event) -> str | None:
        """Why an event (ids as stored) must not be sent: its user was forgotten (GDPR)."""
        if self._tombstones is None or (stored.user_id is None and stored.anonymous_id is None):
            return None
        tombstones = self._tombstones.current()
        if not tombstones:
            return None
        event_ms = int(stored.timestamp.timestamp() * 1000)
        subject = tombstones.subject_of(stored.user_id, stored.anonymous_id, event_ms)
        if subject is None:
            return None
        field = "anonymous_id" if subject.startswith(ANONYMOUS_PREFIX) else "user_id"
        return (
            f"{field}: was forgotten (erasure request) after this event's timestamp; events "
            "of a forgotten user up to that time are refused"
        )

    def refusal(self, event: Event) -> str | None:
        """`_refusal` for an event as the caller gave it (ids not hashed yet): the check the
        HTTP collector runs per event before sending the rest of a batch."""
        if self._hmac_key and (event.user_id is not None or event.anonymous_id is not None):
            event = event.model_copy(update=self._hashed_ids(event))
        return self._refusal(event)

    # -- sending ---------------------------------------------------------------------------
    def send(self, event: EventInput) -> InteractionEvent:
        """Queue one interaction; returns the event as sent (with its event_id and timestamp).

        A dict the fast path accepts (nearly every event) skips `_prepare`'s dispatch; any
        other input, and every rejection, goes through it and the model.
        """
        fast = fast_interaction(event, self._validation_context) if type(event) is dict else None
        prepared = self._prepare(InteractionEvent, event) if fast is None else self._as_stored(fast)
        assert isinstance(prepared, InteractionEvent)
        self._produce(prepared, None, None)
        return prepared

    def send_search(self, event: EventInput) -> SearchEvent:
        """Queue one search event (a result list served for a query)."""
        prepared = self._prepare(SearchEvent, event)
        assert isinstance(prepared, SearchEvent)
        self._produce(prepared, None, None)
        return prepared

    def send_many(
        self,
        events: Iterable[EventInput],
        *,
        kind: type[Event] = InteractionEvent,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> BulkResult:
        """Bulk path: validate each event, queue the valid ones, and (by default) wait for
        Kafka to acknowledge them. Invalid events are reported by index and never block the
        valid ones; delivery failures are reported by index as well."""
        result = BulkResult()
        pending = _Countdown()
        for index, raw in enumerate(events):
            try:
                prepared = self._prepare(kind, raw)
            except ValidationError as exc:
                result.invalid[index] = describe(exc)
                continue
            except SuppressedUserError as exc:
                result.invalid[index] = [str(exc)]
                continue
            pending.add()
            self._produce(prepared, partial(self._bulk_report, result, pending, index), index)
            result.accepted += 1
        if wait:
            self._wait_for(pending, timeout)
        return result

    def _produce(
        self,
        event: Event,
        report: Callable[[KafkaError | None, Message], None] | None,
        index: int | None,
    ) -> None:
        if isinstance(event, InteractionEvent):
            topic, key, headers = self._topics.interactions, interaction_key(event), _HEADERS_I
        else:
            topic, key, headers = self._topics.searches, search_key(event), _HEADERS_S
        if report is not None:
            callback = report
        elif self._on_delivery is None:
            callback = self._failure_report
        else:
            callback = partial(self._report, event)
        value = encode(event)
        deadline = 0.0  # set on the first full queue: a clock read per event costs
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=callback
                )
                break
            except BufferError:
                # librdkafka's local queue is full: serve delivery reports to make room.
                now = time.monotonic()
                if not deadline:
                    deadline = now + _QUEUE_FULL_MAX_WAIT_S
                elif now > deadline:
                    raise ProducerQueueFullError(
                        f"the producer queue stayed full for {_QUEUE_FULL_MAX_WAIT_S:.0f} s: "
                        "Kafka is not acknowledging events (is it up?)"
                    ) from None
                self._producer.poll(_QUEUE_FULL_WAIT_S)
        self._sends_since_poll += 1
        if self._sends_since_poll >= _POLL_EVERY:
            self._sends_since_poll = 0
            self._producer.poll(0)

    # -- delivery reports ------------------------------------------------------------------
    def _report(self, event: Event, err: KafkaError | None, _msg: Message) -> None:
        failure = None if err is None else DeliveryFailure(event.event_id, err.str())
        if failure is not None:
            with self._lock:
                self._failures.append(failure)
        if self._on_delivery is not None:
            self._on_delivery(event, failure)

    def _bulk_report(
        self,
        result: BulkResult,
        pending: _Countdown,
        index: int,
        err: KafkaError | None,
        msg: Message,
    ) -> None:
        if err is None:
            result.delivered += 1
        else:
            event_id = _event_id_of(msg)
            result.failed.append(DeliveryFailure(event_id, err.str(), index))
        pending.done()

    def _wait_for(self, pending: _Countdown, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while pending.remaining and time.monotonic() < deadline:
            self._producer.poll(0.01)
        if pending.remaining:
            raise DeliveryTimeoutError(
                f"{pending.remaining} event(s) still unacknowledged after {timeout:.1f} s"
            )

    def poll(self, timeout: float = 0.0) -> int:
        """Serve pending delivery reports; returns how many were served."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued event is acknowledged; raise DeliveryError on any failure."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryTimeoutError(f"{remaining} event(s) still queued after {timeout:.1f} s")
        with self._lock:
            failures = self._failures[:]
            self._failures.clear()
        if failures:
            raise DeliveryError(failures)

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then drop whatever Kafka still has not taken so the client can go away.

        Raises like `flush()` when events were not delivered; the purged ones are reported
        as failures too, so closing never hides a loss.
        """
        try:
            self.flush(timeout)
        except DeliveryTimeoutError:
            self._producer.purge()
            self._producer.flush(1.0)
            with self._lock:
                failures = self._failures[:]
                self._failures.clear()
            if failures:
                raise DeliveryError(failures) from None
            raise

    def __len__(self) -> int:
        """Events queued and not yet acknowledged."""
        return len(self._producer)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._producer.flush(5.0)
            self._producer.purge()


class _FailureReport:
    """`send()`'s delivery report when nobody asked for the event back: only a failure is
    kept, its event_id read from the message.

    One shared callable instead of `partial(self._report, event)` per message: holding each
    event until Kafka acknowledges it kept ~6 objects per in-flight event alive, and the
    cyclic garbage collector then ran every few hundred sends over an ever larger young
    heap, a third of `send()`'s time. It holds the list, not the producer, so no cycle.
    """

    __slots__ = ("_failures", "_lock")

    def __init__(self, lock: threading.Lock, failures: list[DeliveryFailure]) -> None:
        self._lock = lock
        self._failures = failures

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failure = DeliveryFailure(_event_id_of(msg), err.str())
            with self._lock:
                self._failures.append(failure)


class _Countdown:
    """Outstanding deliveries of one bulk call (touched only from the polling thread)."""

    __slots__ = ("remaining",)

    def __init__(self) -> None:
        self.remaining = 0

    def add(self) -> None:
        self.remaining += 1

    def done(self) -> None:
        self.remaining -= 1


def _event_id_of(msg: Message) -> UUID:
    try:
        return UUID(orjson.loads(msg.value() or b"{}")["event_id"])
    except (KeyError, ValueError, TypeError):
        return UUID(int=0)
