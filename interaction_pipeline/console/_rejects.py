"""A bounded, in-memory log of the events the collector refused with 422, for the console.

A 422 never reaches Kafka, so no other part of the pipeline ever sees it: the only place that
can answer "why is my event not counted?" for it is the process that refused it. The log is
a ring of the latest `REJECT_LOG_SIZE` events (older ones fall off), per process (with
`interactions serve --workers N` each process keeps its own) and gone on restart: a debugging
aid, not a store. Events of forgotten users (409) are never recorded, and nothing here is
written to disk, so erasure has nothing to find in it.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

REJECT_LOG_SIZE: Final = 500
MAX_EVENT_CHARS: Final = 4_000
"""A refused event is kept as JSON text cut at this length (one bad event can be 1 MB)."""


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """One refused event (or a refused body, when `index` is None)."""

    seq: int
    received_at: datetime
    kind: str
    """"interaction" or "search": the route that refused it."""
    index: int | None
    """Its index in the request's batch; None when the body as a whole was unusable."""
    errors: tuple[str, ...]
    """Each names the field and the rule, as the 422 answer did."""
    event: dict[str, Any] | None
    """The event as posted, when it was a JSON object (None for a cut or non-object one)."""
    text: str
    """The event (or body) as JSON text, cut at MAX_EVENT_CHARS."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "received_at": self.received_at.isoformat(),
            "kind": self.kind,
            "index": self.index,
            "errors": list(self.errors),
            "text": self.text,
        }


def _as_text(raw: Any) -> str:
    if isinstance(raw, bytes | bytearray):
        return raw[:MAX_EVENT_CHARS].decode("utf-8", errors="replace")
    try:
        text = orjson.dumps(raw).decode()
    except TypeError:
        text = repr(raw)
    return text[:MAX_EVENT_CHARS]


class RejectLog:
    """Thread-safe ring of refused events; `record` is the collector's hook."""

    def __init__(self, size: int = REJECT_LOG_SIZE) -> None:
        self._items: deque[RejectedEvent] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def record(self, kind: str, refused: Sequence[tuple[int | None, Any, Sequence[str]]]) -> None:
        """Keep (index, raw event or body, errors) of each refused event of one request."""
        now = datetime.now(UTC)
        with self._lock:
            for index, raw, errors in refused:
                text = _as_text(raw)
                whole = isinstance(raw, dict) and len(text) < MAX_EVENT_CHARS
                self._items.append(
                    RejectedEvent(
                        seq=next(self._seq),
                        received_at=now,
                        kind=kind,
                        index=index,
                        errors=tuple(errors),
                        event=raw if whole else None,
                        text=text,
                    )
                )

    def latest(self, limit: int | None = None) -> list[RejectedEvent]:
        """Newest first."""
        with self._lock:
            items = list(self._items)
        items.reverse()
        return items if limit is None else items[:limit]

    def __len__(self) -> int:
        return len(self._items)
