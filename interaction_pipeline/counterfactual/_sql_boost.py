"""A boost config replayed inside ClickHouse: the SQL path for `boost:` candidates.

On the numpy path a boost candidate reads every interaction of the range into a timeline
and every logged list into arrays, minutes on 10M events. Here the counts of each shown
document at its search's time come from counterfactual_boost_counts.sql (per document, its
interactions and two probes per shown cell sorted once, the running sum read at the probes;
one row per search), joined into counterfactual_estimate.sql at its `boost` markers, and
the candidate is a sort key over them: the boosted score of `BoostCandidate` (rank-derived
score 1 - pos / len, or the logged `metadata.scores`, times the saturating multiplier),
highest first, ties in shown order. Same counts, same scores, same order as
`BoostCandidate` + `TimelineCounts` (tests/integration/counterfactual/
test_counterfactual_pushdown.py compares the two), so the same estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from interaction_pipeline.analytics import DateRange, QueryRunner, sql_text
from interaction_pipeline.counterfactual._counts import HOUR_MS
from schemas.interaction_types import TypeRegistry
from stream_processors import BoostConfig

COUNTS_SQL: Final = "counterfactual_boost_counts"
_CTE: Final = "/* boost counts */"
_COLUMNS: Final = "/* boost columns */"
_JOIN: Final = "/* boost join */"
MATERIALIZE_SETTING: Final = "enable_materialized_cte = 1"
"""The estimate reads its searches twice (pair statistics, then per-search terms), so an
inlined counts CTE is computed twice; `AS MATERIALIZED` with this setting is meant to compute
it once on chDB (ClickHouse 26), a server without the setting inlines it. Measured on 10M
events it does not: the counts are computed twice either way (docs/counterfactual.md)."""

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

    def fill(self, statement: str, materialize: bool = False) -> str:
        """counterfactual_estimate.sql with the counts as a CTE (computed once when
        `materialize`, which needs MATERIALIZE_SETTING), joined per search, and the columns
        the key reads."""
        if any(m not in statement for m in (_CTE, _COLUMNS, _JOIN)):  # pragma: no cover
            raise RuntimeError("counterfactual_estimate.sql lost its boost markers")
        keyword = "MATERIALIZED " if materialize else ""
        cte = f"boost_counts AS {keyword}\n    (\n{sql_text(COUNTS_SQL)}\n    ),"
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
