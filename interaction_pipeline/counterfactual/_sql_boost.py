"""A boost config replayed inside ClickHouse: the SQL path for `boost:` candidates.

On the numpy path a boost candidate reads every interaction of the range into a timeline
and every logged list into arrays, minutes on 10M events. Here the counts of each shown
document at its search's time come from counterfactual_boost_counts.sql (per document, its
interactions and two probes per shown cell sorted once, the running sum read at the probes;
one row per search; written once to a scratch table, as the estimate reads its searches
twice), joined into counterfactual_estimate.sql at its `boost` markers, and
the candidate is a sort key over them: the boosted score of `BoostCandidate` (rank-derived
score 1 - pos / len, or the logged `metadata.scores`, times the saturating multiplier),
highest first, ties in shown order. Same counts, same scores, same order as
`BoostCandidate` + `TimelineCounts` (tests/integration/counterfactual/
test_counterfactual_pushdown.py compares the two), so the same estimates.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from interaction_pipeline.analytics import DateRange, QueryRunner, sql_text
from interaction_pipeline.counterfactual._counts import HOUR_MS
from schemas.errors import BackendError
from schemas.interaction_types import TypeRegistry
from sinks import ClickHouseBackend
from stream_processors import BoostConfig

COUNTS_SQL: Final = "counterfactual_boost_counts"
_CTE: Final = "/* boost counts */"
_COLUMNS: Final = "/* boost columns */"
_JOIN: Final = "/* boost join */"
SCRATCH_PREFIX: Final = "_scratch_boost_counts_"
"""Name prefix of the table `counts_table` writes the counts to (a uuid follows), dropped
after the estimate."""
log = logging.getLogger(__name__)
_SCORE: Final = (
    "if(pos < length(scores) AND isFinite(scores[pos + 1]), scores[pos + 1], 1 - pos / len)"
)
_FACTOR: Final = (
    "if(counts[pos + 1] > 0, least(1 + ({boost_multiplier:Float64} - 1) * (1 - "
    "{boost_half_saturation:Float64} / (counts[pos + 1] + {boost_half_saturation:Float64})), "
    "{boost_multiplier:Float64}), 1)"
)
BOOST_KEY: Final = f"-if({_SCORE} >= 0, {_SCORE} * {_FACTOR}, {_SCORE} / {_FACTOR})"
"""stream_processors.boost's boosted score, negated (the sort is ascending): written as
`base_scores` and `boost_multipliers` compute it, so ties fall the same way."""


@dataclass(frozen=True, slots=True)
class SqlBoost:
    """A `BoostConfig` estimated on the SQL path: ``SqlBoost(BoostConfig(boost_multiplier=1.5),
    "b15")``; the counts are those of each search's time, as `OfflineEvaluation.boost`."""

    config: BoostConfig
    name: str = "boost"

    @property
    def key(self) -> str:
        return BOOST_KEY

    def fill(self, statement: str, table: str | None = None) -> str:
        """counterfactual_estimate.sql with the counts joined per search and the columns the
        key reads: the counts read from `table` (written by `counts_table`), or, without one,
        computed inline as a CTE (then once per pass of the estimate: twice the work)."""
        if any(m not in statement for m in (_CTE, _COLUMNS, _JOIN)):  # pragma: no cover
            raise RuntimeError("counterfactual_estimate.sql lost its boost markers")
        source = f"SELECT count_key, counts FROM {table}" if table else sql_text(COUNTS_SQL)
        cte = f"boost_counts AS\n    (\n{source}\n    ),"
        columns = (
            ", arrayResize(bc.counts, len, 0.) AS counts, "
            "JSONExtract(s.metadata, 'scores', 'Array(Float64)') AS scores"
        )
        join = "LEFT JOIN boost_counts AS bc ON cityHash64(s.query_id) = bc.count_key"
        return statement.replace(_CTE, cte).replace(_COLUMNS, columns).replace(_JOIN, join)

    def params(
        self, runner: QueryRunner, date_range: DateRange, retriever: str | None, k: int
    ) -> dict[str, Any]:
        """The parameters of the joined counts query and of the key."""
        settings = runner.settings
        days = self.config.time_window_days or settings.popularity.default_window_days
        weights = TypeRegistry(settings.events.type_weights).weights(self.config.interaction_types)
        counts_start = date_range.start - timedelta(days=days, milliseconds=HOUR_MS)
        return {
            **runner.params(
                COUNTS_SQL,
                date_range,
                retriever,
                max_positions=k,
                boost_type_names=",".join(weights),
                boost_type_weights=",".join(f"{w:g}" for w in weights.values()),
                window_ms=24 * days * HOUR_MS,
                counts_start=DateRange(counts_start, date_range.end).params()["start"],
            ),
            "boost_multiplier": float(self.config.boost_multiplier),
            "boost_half_saturation": float(self.config.half_saturation),
        }


@contextlib.contextmanager
def counts_table(
    backend: ClickHouseBackend,
    params: dict[str, Any],
    *,
    required: bool = False,
    settings: str = "",
) -> Iterator[str | None]:
    """The counts of counterfactual_boost_counts.sql written once to a scratch table (Log
    engine: on disk, so a chDB backend that reopens its folder between calls still finds
    it), its name yielded and the table dropped afterwards. The estimate reads its searches
    in two passes; without the table each pass computes the counts again (on 10M events
    16 s CPU each). When the table cannot be written (a read-only server user, a full disk)
    it logs why and yields None, and the caller computes the counts inline; with `required`
    it raises instead. `settings`: a SETTINGS clause for the SELECT (`final = 1`)."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"
    try:
        select = sql_text(COUNTS_SQL).rstrip() + settings
        backend.command(f"CREATE TABLE {name} ENGINE = Log AS\n{select}", params)
    except BackendError as exc:
        if required:
            raise
        log.warning("boost counts computed inline, twice (no scratch table: %s)", exc)
        with contextlib.suppress(BackendError):  # a partly created table
            backend.command(f"DROP TABLE IF EXISTS {name}")
        yield None
        return
    try:
        yield name
    finally:
        backend.command(f"DROP TABLE IF EXISTS {name}")
