"""The Events page's data: latest accepted events, refused ones with their field errors, rate.

Where each comes from (the `source` of a row, also a filter):

| source | what | read from |
| --- | --- | --- |
| `interactions`, `searches` | accepted: acknowledged by Kafka (SDK and HTTP) | the topic's tail |
| `http` | refused by the collector (422), with each field error | this process's `RejectLog` |
| `sink` | reached Kafka, refused by the ClickHouse sink | the `sink_rejects` table |
| `dlq` | reached Kafka, refused by the popularity worker | the dead-letter topic's tail |

Filters (user, feature, type, source) apply to the newest `depth` messages of each partition,
not to the whole topic: this is a live debugger, not a query engine (`interactions list` is).
A user filter matches the id as typed and as producers store it (HMAC when configured). The
rate per type is counted over the tail by Kafka timestamp (arrival), in `RATE_BIN_S` bins
over the last `RATE_WINDOW_S` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from interaction_pipeline.console._kafka_tail import TailMessage, TopicTail
from interaction_pipeline.console._rejects import RejectLog
from schemas.settings import Settings
from schemas.topics import (
    DLQ_HEADER_COMPONENT,
    DLQ_HEADER_REASON,
    DLQ_HEADER_SOURCE_OFFSET,
    DLQ_HEADER_SOURCE_PARTITION,
    DLQ_HEADER_SOURCE_TOPIC,
)
from sinks import ClickHouseBackend
from sinks.ddl import (
    COL_KAFKA_OFFSET,
    COL_KAFKA_PARTITION,
    COL_KAFKA_TOPIC,
    COL_PAYLOAD,
    COL_REASON,
    COL_RECEIVED_AT,
    REJECTS_TABLE,
)

ACCEPTED_SOURCES: Final = ("interactions", "searches")
REJECTED_SOURCES: Final = ("http", "sink", "dlq")
SEARCH_TYPE: Final = "search"
"""The `type` of a search event (interactions have their interaction types)."""
RATE_WINDOW_S: Final = 60
RATE_BIN_S: Final = 5
PAYLOAD_CHARS: Final = 2_000


@dataclass(frozen=True, slots=True)
class EventFilter:
    user: str | None = None
    feature: str | None = None
    type: str | None = None
    source: str | None = None

    def users(self, hasher: Callable[[str], str]) -> set[str]:
        return {self.user, hasher(self.user)} if self.user else set()

    def admits(self, row: dict[str, Any], users: set[str]) -> bool:
        if self.source and row["source"] != self.source:
            return False
        if users and row.get("user_id") not in users:
            return False
        if self.feature and self.feature not in (row.get("feature_id"), row.get("query_id")):
            return False
        return not self.type or self.type in row.get("types", ())


def _object(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _types(event: dict[str, Any] | None, source: str) -> list[str]:
    if source == "searches" or (event is not None and "results" in event):
        return [SEARCH_TYPE]
    if event is None:
        return []
    types = event.get("interaction_type")
    if isinstance(types, str):
        return [types]
    return [t for t in types if isinstance(t, str)] if isinstance(types, list) else []


def _ids(event: dict[str, Any] | None) -> dict[str, Any]:
    """The fields a row shows and filters on, when the payload is readable."""
    event = event or {}

    def text(name: str) -> str | None:
        value = event.get(name)
        return value if isinstance(value, str) else None

    metadata = event.get("metadata")
    query = text("query") or (metadata.get("query") if isinstance(metadata, dict) else None)
    position = event.get("position")
    return {
        "event_id": text("event_id"),
        "user_id": text("user_id"),
        "feature_id": text("feature_id"),
        "query_id": text("query_id"),
        "query": query if isinstance(query, str) else None,
        "retriever_id": text("retriever_id"),
        "position": position if isinstance(position, int) else None,
    }


def _when(stamp: datetime | None) -> str | None:
    return stamp.isoformat() if stamp else None


def accepted_row(msg: TailMessage, source: str) -> dict[str, Any]:
    event = _object(msg.value)
    return {
        "source": source,
        "received_at": _when(msg.timestamp),
        "types": _types(event, source),
        **_ids(event),
        "where": f"{msg.topic} [{msg.partition}] @{msg.offset}",
    }


def dead_letter_row(msg: TailMessage) -> dict[str, Any]:
    event = _object(msg.value)
    header = {k: v.decode("utf-8", errors="replace") for k, v in msg.headers.items()}
    origin = header.get(DLQ_HEADER_SOURCE_TOPIC, "?")
    return {
        "source": "dlq",
        "received_at": _when(msg.timestamp),
        "errors": [header.get(DLQ_HEADER_REASON, "(no reason header)")],
        "types": _types(event, ""),
        **_ids(event),
        "component": header.get(DLQ_HEADER_COMPONENT),
        "where": f"{origin} [{header.get(DLQ_HEADER_SOURCE_PARTITION, '?')}] "
        f"@{header.get(DLQ_HEADER_SOURCE_OFFSET, '?')}",
        "payload": (msg.value or b"")[:PAYLOAD_CHARS].decode("utf-8", errors="replace"),
    }


def sink_reject_row(row: dict[str, Any]) -> dict[str, Any]:
    raw = row[COL_PAYLOAD]
    payload = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    event = _object(payload)
    received = row[COL_RECEIVED_AT]
    return {
        "source": "sink",
        "received_at": received.isoformat() if isinstance(received, datetime) else received,
        "errors": [str(row[COL_REASON])],
        "types": _types(event, ""),
        **_ids(event),
        "component": "sink",
        "where": f"{row[COL_KAFKA_TOPIC]} [{row[COL_KAFKA_PARTITION]}] @{row[COL_KAFKA_OFFSET]}",
        "payload": payload[:PAYLOAD_CHARS],
    }


def _newest_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r.get("received_at") or "", reverse=True)


def event_rate(rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Events per second by type in RATE_BIN_S bins over the last RATE_WINDOW_S seconds."""
    bins = RATE_WINDOW_S // RATE_BIN_S
    start = now - timedelta(seconds=RATE_WINDOW_S)
    series: dict[str, list[float]] = {}
    for row in rows:
        if not row.get("received_at"):
            continue
        at = datetime.fromisoformat(row["received_at"])
        slot = int((at - start).total_seconds() // RATE_BIN_S)
        if 0 <= slot < bins:
            for kind in row["types"] or ["unknown"]:
                series.setdefault(kind, [0.0] * bins)[slot] += 1.0 / RATE_BIN_S
    return {
        "bin_seconds": RATE_BIN_S,
        "labels": [f"-{RATE_WINDOW_S - i * RATE_BIN_S}s" for i in range(bins)],
        "series": {k: [round(v, 2) for v in vs] for k, vs in sorted(series.items())},
        "per_second": {
            k: round(sum(vs) * RATE_BIN_S / RATE_WINDOW_S, 2) for k, vs in sorted(series.items())
        },
    }


class EventsView:
    """Assembles the Events page's JSON; each source fails alone (its problem is reported)."""

    def __init__(
        self,
        settings: Settings,
        tail: TopicTail,
        rejects: RejectLog,
        backend: ClickHouseBackend | None,
    ) -> None:
        self._settings = settings
        self._tail = tail
        self._rejects = rejects
        self._backend = backend

    def accepted(self, flt: EventFilter, depth: int, limit: int) -> dict[str, Any]:
        topics = self._settings.topics
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for source, topic in zip(
            ACCEPTED_SOURCES, (topics.interactions, topics.searches), strict=True
        ):
            if flt.source and flt.source != source:
                continue
            try:
                rows += [accepted_row(m, source) for m in self._tail.latest(topic, depth)]
            except ConnectionError as exc:
                problems.append(str(exc))
        users = flt.users(self._settings.privacy.hasher)
        unfiltered = EventFilter(source=flt.source)
        rate = event_rate([r for r in rows if unfiltered.admits(r, set())], datetime.now(UTC))
        kept = _newest_first(r for r in rows if flt.admits(r, users))
        return {"items": kept[:limit], "matched": len(kept), "rate": rate, "problems": problems}

    def rejected(self, flt: EventFilter, depth: int, limit: int) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        wanted = [s for s in REJECTED_SOURCES if not flt.source or flt.source == s]
        if "http" in wanted:
            rows += [self._http_row(r.to_json(), r.event) for r in self._rejects.latest()]
        if "sink" in wanted and self._backend is not None:
            try:
                rows += [sink_reject_row(r) for r in self._sink_rejects(depth)]
            except ConnectionError as exc:
                problems.append(f"sink rejects: {exc}")
        if "dlq" in wanted:
            try:
                dead = self._tail.latest(self._settings.topics.dead_letter, depth)
                rows += [dead_letter_row(m) for m in dead]
            except ConnectionError as exc:
                problems.append(str(exc))
        users = flt.users(self._settings.privacy.hasher)
        kept = _newest_first(r for r in rows if flt.admits(r, users))
        return {"items": kept[:limit], "matched": len(kept), "problems": problems}

    @staticmethod
    def _http_row(entry: dict[str, Any], event: dict[str, Any] | None) -> dict[str, Any]:
        kind = entry["kind"]
        index = entry["index"]
        return {
            "source": "http",
            "received_at": entry["received_at"],
            "errors": entry["errors"],
            "types": _types(event, "searches" if kind == "search" else ""),
            **_ids(event),
            "component": "collector",
            "where": f"POST {kind}s" + ("" if index is None else f", event #{index}"),
            "payload": entry["text"][:PAYLOAD_CHARS],
        }

    def _sink_rejects(self, limit: int) -> list[dict[str, Any]]:
        assert self._backend is not None
        columns = (
            COL_KAFKA_TOPIC, COL_KAFKA_PARTITION, COL_KAFKA_OFFSET, COL_PAYLOAD, COL_REASON,
            COL_RECEIVED_AT,
        )  # fmt: skip
        return self._backend.query(
            f"SELECT {', '.join(columns)} FROM {REJECTS_TABLE} "
            f"ORDER BY {COL_RECEIVED_AT} DESC LIMIT {{limit:UInt32}}",
            {"limit": limit},
        )
