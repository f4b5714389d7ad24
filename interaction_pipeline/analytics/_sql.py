"""The shipped SQL files and the one place that fills in their parameters.

Each metric is a file under analytics/sql/ that an analyst can run by hand
(`clickhouse-client --param_start=... < analytics/sql/headline.sql`); Python runs the very
same text through the sinks' backend interface. Interaction type names are parameters
(comma-separated lists, which bind the same way on chDB and on a server), filled here from
schemas.interaction_types, so the SQL never hard-codes the vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any, Final

import pyarrow as pa

from interaction_pipeline.analytics.daterange import DateRange
from schemas.errors import InvalidArgumentError
from schemas.interaction_types import (
    CLICK,
    CONVERSION_TYPES,
    CUSTOM_DEFAULT_WEIGHT,
    LONG_VIEW,
    NEGATIVE_TYPES,
    SKIP,
    TypeRegistry,
)
from schemas.settings import Settings
from sinks import ClickHouseBackend

_PARAM: Final = re.compile(r"\{(\w+):[^}]+\}")

CLICK_TYPES: Final = (CLICK, LONG_VIEW)
"""What counts as a click where clicks and conversions are told apart."""
ENGAGED_TYPES: Final = (*CLICK_TYPES, *sorted(CONVERSION_TYPES))
"""What counts as a click on a result (a conversion implies one)."""
SKIP_TYPES: Final = (SKIP,)


@cache
def sql_text(name: str) -> str:
    """The text of analytics/sql/<name>.sql."""
    return (
        resources.files("interaction_pipeline.analytics")
        .joinpath("sql", f"{name}.sql")
        .read_text("utf-8")
    )


def sql_names() -> list[str]:
    """Every shipped query, by file stem."""
    folder = resources.files("interaction_pipeline.analytics").joinpath("sql")
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def parameters_of(sql: str) -> set[str]:
    return set(_PARAM.findall(sql))


def _csv(values: tuple[str, ...] | list[str]) -> str:
    return ",".join(values)


def vocabulary(settings: Settings) -> dict[str, Any]:
    """The type-name and threshold parameters, from schemas and settings (weight overrides
    and custom types included)."""
    registry = TypeRegistry(settings.events.type_weights)
    positive = {n: t.weight for n, t in registry.known.items() if not t.is_negative}
    return {
        "engaged_types": _csv(ENGAGED_TYPES),
        "click_types": _csv(CLICK_TYPES),
        "skip_types": _csv(SKIP_TYPES),
        "conversion_types": _csv(sorted(CONVERSION_TYPES)),
        "negative_types": _csv(sorted(NEGATIVE_TYPES)),
        "long_view_type": LONG_VIEW,
        "long_view_ms": settings.events.long_view_ms,
        "type_names": _csv(list(positive)),
        "type_weights": ",".join(f"{w:g}" for w in positive.values()),
        "custom_weight": CUSTOM_DEFAULT_WEIGHT,
    }


class QueryRunner:
    """Runs the shipped queries with the vocabulary and thresholds from settings.

    `dedupe=True` adds `SETTINGS final = 1`, which makes ClickHouse merge rows of the same
    event (same event_id, resent by a producer) before counting; it costs a merge at read
    time, so it is opt-in (the sink itself never writes a message twice).
    """

    def __init__(
        self, backend: ClickHouseBackend, settings: Settings, *, dedupe: bool = False
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.dedupe = dedupe
        self._vocabulary = vocabulary(settings)

    def params(
        self, name: str, date_range: DateRange, retriever: str | None, **extra: Any
    ) -> dict[str, Any]:
        """Exactly the parameters `name` uses; a missing one is a programming error."""
        wanted = parameters_of(sql_text(name))
        given = {
            **self._vocabulary,
            **date_range.params(),
            "retriever": retriever or "",
            **extra,
        }
        missing = wanted - given.keys()
        if missing:
            raise InvalidArgumentError(f"{name}.sql needs parameter(s) {sorted(missing)}")
        return {key: given[key] for key in wanted}

    def _sql(self, name: str) -> str:
        text = sql_text(name)
        return f"{text.rstrip()}\nSETTINGS final = 1" if self.dedupe else text

    def rows(
        self, name: str, date_range: DateRange, retriever: str | None, **extra: Any
    ) -> list[dict[str, Any]]:
        return self.backend.query(
            self._sql(name), self.params(name, date_range, retriever, **extra)
        )

    def arrow(
        self, name: str, date_range: DateRange, retriever: str | None, **extra: Any
    ) -> pa.Table:
        return self.backend.query_arrow(
            self._sql(name), self.params(name, date_range, retriever, **extra)
        )

    def batches(
        self, name: str, date_range: DateRange, retriever: str | None, **extra: Any
    ) -> Iterator[pa.RecordBatch]:
        return self.backend.query_arrow_batches(
            self._sql(name), self.params(name, date_range, retriever, **extra), batch_rows=8_192
        )
