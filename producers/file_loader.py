"""Load seed-format JSON lines into Kafka: validate each line, report bad ones by number.

Good lines are delivered even when others are bad; the caller decides the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import orjson

from producers._producer import InteractionProducer
from schemas.events import InteractionEvent, SearchEvent

Kind = Literal["auto", "interaction", "search"]
_CHUNK = 5_000


@dataclass(slots=True)
class LoadSummary:
    lines: int = 0
    interactions: int = 0
    searches: int = 0
    blank: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    not_delivered: list[tuple[int, str]] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.interactions + self.searches - len(self.not_delivered)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.not_delivered


def _classify(obj: dict[str, Any], kind: Kind) -> type[InteractionEvent] | type[SearchEvent]:
    if kind == "interaction":
        return InteractionEvent
    if kind == "search":
        return SearchEvent
    return SearchEvent if "results" in obj or "total_hits" in obj else InteractionEvent


def _parsed_lines(stream: IO[bytes], summary: LoadSummary) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(stream, start=1):
        summary.lines = number
        if not raw.strip():
            summary.blank += 1
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            summary.bad.append((number, f"not valid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            summary.bad.append((number, f"must be a JSON object, got {type(obj).__name__}"))
            continue
        yield number, obj


def load_jsonl(
    producer: InteractionProducer,
    stream: IO[bytes],
    *,
    kind: Kind = "auto",
    on_progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Validate and publish every line of `stream`; returns what happened to each line."""
    summary = LoadSummary()
    chunk: dict[type[InteractionEvent] | type[SearchEvent], list[tuple[int, dict[str, Any]]]] = {
        InteractionEvent: [],
        SearchEvent: [],
    }

    def flush_chunks() -> None:
        for model, rows in chunk.items():
            if not rows:
                continue
            result = producer.send_many((obj for _, obj in rows), kind=model)
            for index, problems in result.invalid.items():
                summary.bad.append((rows[index][0], "; ".join(problems)))
            for failure in result.failed:
                line = rows[failure.index][0] if failure.index is not None else 0
                summary.not_delivered.append((line, failure.reason))
            if model is InteractionEvent:
                summary.interactions += result.accepted
            else:
                summary.searches += result.accepted
            if on_progress is not None:
                on_progress(len(rows))
            rows.clear()

    for number, obj in _parsed_lines(stream, summary):
        chunk[_classify(obj, kind)].append((number, obj))
        if sum(len(rows) for rows in chunk.values()) >= _CHUNK:
            flush_chunks()
    flush_chunks()
    summary.bad.sort()
    return summary
