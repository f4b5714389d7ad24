"""The one exception hierarchy of the pipeline.

Every error the pipeline raises on purpose derives from `InteractionPipelineError`, and also
from the built-in a caller would already catch (as `faust/exceptions.py` and
`httpx/_exceptions.py` do): a bad argument is a `ValueError`, a missing thing a `LookupError`,
a store that does not answer a `ConnectionError`. Client errors of Kafka, Redis and
ClickHouse are translated into `ServiceUnavailableError` subclasses where they are caught
(the popularity reader, the ClickHouse backends, the producers), so callers never need the
clients' own exception types. The HTTP service maps status codes from this hierarchy
(`HTTP_STATUS`), never from a bare `ValueError`.

Pydantic's `ValidationError` stays what the event contract raises for a bad event: its
messages are the contract's (`position: must be >= 0, got -1`).
"""

from __future__ import annotations


class InteractionPipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""


# --- the caller's input --------------------------------------------------------------------


class InvalidInputError(InteractionPipelineError, ValueError):
    """An argument or a request is wrong; the message names the field and the rule."""


class InvalidArgumentError(InvalidInputError):
    """An argument of a read or an admin call (window, cursor, date range, option) is wrong."""


class InvalidCursorError(InvalidArgumentError):
    """A paging cursor that this API did not hand out (or that was altered)."""


class DecodeError(InvalidInputError):
    """A message or a request body could not be read as an event (not JSON, not an object);
    `reason` is safe to put in a dead-letter header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadTooLargeError(InvalidInputError):
    """A request body or an event batch over the configured limits."""


class SuppressedUserError(InvalidInputError):
    """An event of a forgotten user, at or before the time they were forgotten (GDPR).

    Refused by the collector and the SDK; the message names the field, never the id."""


class ConfigurationError(InteractionPipelineError, ValueError):
    """A setting, or a combination of settings, that the pipeline cannot run with."""


class NotFoundError(InteractionPipelineError, LookupError):
    """What was asked for does not exist (yet)."""


# --- the services the pipeline depends on ----------------------------------------------------


class ServiceUnavailableError(InteractionPipelineError, ConnectionError):
    """A store or broker did not answer, or refused for now; retrying later may succeed."""


class KafkaUnavailableError(ServiceUnavailableError):
    """Kafka did not acknowledge, or could not be reached."""


class ProducerQueueFullError(KafkaUnavailableError, BufferError):
    """The producer's local queue stayed full: Kafka is not taking events fast enough."""


class DeliveryTimeoutError(KafkaUnavailableError, TimeoutError):
    """Events were still waiting for Kafka's acknowledgement when the wait ran out."""


class RedisUnavailableError(ServiceUnavailableError):
    """Redis did not answer."""


class BackendError(ServiceUnavailableError):
    """A ClickHouse operation failed; the message is ClickHouse's own, with the SQL's start."""


class BackendBusyError(BackendError):
    """The chDB folder is open in another process and was not released in time."""


# --- the pipeline's own processes ---------------------------------------------------------


class PipelineRuntimeError(InteractionPipelineError, RuntimeError):
    """A long-running part (worker, sink, local stack) cannot go on; the message says why."""


class StartupError(PipelineRuntimeError):
    """A process could not start: a store that does not answer, a bad layout, a bad setting."""


class DecodeWorkerError(PipelineRuntimeError):
    """A decode process of the sink died or answered out of turn."""


class StackError(PipelineRuntimeError):
    """A local service could not be brought up or down; the message says what to do."""


class DependencyMissingError(InteractionPipelineError, ImportError):
    """An optional package is not installed; the message gives the pip command."""


HTTP_STATUS: dict[type[InteractionPipelineError], int] = {
    PayloadTooLargeError: 413,
    SuppressedUserError: 409,
    DecodeError: 400,
    InvalidInputError: 422,
    ConfigurationError: 422,
    NotFoundError: 404,
    BackendBusyError: 503,
    ServiceUnavailableError: 503,
    InteractionPipelineError: 500,
}
"""Status code of each class; a subclass takes the code of its nearest listed ancestor."""


def http_status(exc: InteractionPipelineError) -> int:
    """The HTTP status of an error: the entry of its nearest ancestor in `HTTP_STATUS`."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
