"""One estimate computed inside ClickHouse: the fast path for re-orderings of the logged lists.

The numpy path (`Evaluator`) reads every logged search into (n, k) arrays and does a few
dozen passes over them per candidate: on 10M events that is 3.3M searches x 10 cells, and
most of the time went to reading and scattering the cells, not to the estimators. When the
candidate's order of a shown list can be written as a ClickHouse expression (a position
rule, a function of the document id or the query), counterfactual_estimate.sql does the
whole computation where the data lives, in one statement: positions and weights per cell,
the per-(query, document) pooled sums and cross-fitted direct model (a scalar subquery: one
aggregation pass, ~150k pairs), then per-search terms with each cell's pair statistics found
by a hash lookup (`transform`, no 33M-row join or per-search GROUP BY), and their sums and
sums of squares. Only ~25 numbers come back; numpy turns them into the same
estimates, delta-method intervals and support as `Evaluator`
(tests/integration/counterfactual/test_counterfactual_pushdown.py compares the two on
simulated logs). On 10M events: ~20 s CPU, where the numpy path spent ~120 s CPU reading the
arrays and scoring three policies; ~3x the CPU of the bare IPS + SNIPS statement.

The one deliberate difference: the DR cross-fitting folds are a hash of query_id
(`md5_folds`), not a seeded draw over row order, because SQL rows have no stable order.
Pass the same folds to `Evaluator(fold=...)` and the two paths agree to rounding.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from interaction_pipeline.analytics import DateRange, QueryRunner, sql_text, vocabulary
from interaction_pipeline.counterfactual._estimators import (
    DEFAULT_PRIOR_STRENGTH,
    DEFAULT_SUPPORT_RATIO,
    ESTIMATORS,
    Z95,
    Estimate,
    Estimator,
)
from interaction_pipeline.counterfactual._logs import Metric
from interaction_pipeline.counterfactual._report import CandidateResult, EvaluationOptions, decide
from interaction_pipeline.counterfactual._sql_boost import SqlBoost, counts_table
from schemas.errors import InvalidArgumentError

SQL_NAME: Final = "counterfactual_estimate"
SQL_METRICS: Final[dict[Metric, str]] = {
    "clicks": "engaged_types",
    "conversions": "conversion_types",
}
"""Metrics the SQL path computes, with the vocabulary parameter naming their types."""
_ORDER_KEY: Final = "/* order key */ pos"
_FORBIDDEN: Final = re.compile(r";|--|/\*|\bSELECT\b|\bFROM\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SqlOrder:
    """A candidate that re-orders each logged list by a ClickHouse sort key (ascending, ties
    in shown order) over `doc`, `pos` (0-based), `len` and `query`: ``SqlOrder("reversed",
    "-pos")``. The key is code, not user input: it is pasted into the statement."""

    name: str
    key: str

    def __post_init__(self) -> None:
        if not self.key.strip() or _FORBIDDEN.search(self.key):
            raise InvalidArgumentError(
                f"key: one ClickHouse expression over doc, pos, len, query; got {self.key!r}"
            )


@dataclass(frozen=True, slots=True)
class SqlEstimate:
    """One candidate against the logged policy, as `CandidateResult` reports it for one
    metric: estimates and paired differences per estimator, support and effective sizes."""

    name: str
    metric: Metric
    searches: int
    logged: float
    """The logged policy's observed outcome per search."""
    estimates: dict[Estimator, Estimate]
    differences: dict[Estimator, Estimate]
    support: float
    support_slots: float
    changed_share: float
    ess: dict[str, float]

    def to_result(self, options: EvaluationOptions, k: int) -> CandidateResult:
        """As the report shows a candidate, with the gate's verdict (this metric only; every
        slot holds a document its own search showed)."""
        verdict, notes = decide(
            self.name,
            "logged",
            self.differences[options.estimator],
            self.logged,
            self.support,
            self.ess["ips"],
            options,
            k,
        )
        return CandidateResult(
            name=self.name,
            estimates={self.metric: self.estimates},
            differences={self.metric: self.differences},
            support=self.support,
            support_slots=self.support_slots,
            shown_share=1.0,
            in_search_share=1.0,
            changed_share=self.changed_share,
            ess=self.ess,
            verdict=verdict,
            notes=tuple(notes),
        )


def md5_folds(query_ids: pa.Array | Sequence[str]) -> np.ndarray:
    """(n,) cross-fitting fold per search as the SQL computes it: first byte of MD5(query_id)
    modulo 2."""
    ids = query_ids.to_pylist() if isinstance(query_ids, pa.Array) else list(query_ids)
    return np.fromiter(
        (hashlib.md5(q.encode()).digest()[0] % 2 for q in ids), dtype=np.int64, count=len(ids)
    )


SqlCandidate = SqlOrder | SqlBoost
"""What the SQL path estimates: a sort key, or a boost config replayed with its counts."""


def statement(order: SqlCandidate, counts: str | None = None) -> str:
    """counterfactual_estimate.sql with the candidate's key in place of the logged order
    (and, for a boost, the counts joined in, read from the table `counts` when given: see
    SqlBoost.fill)."""
    text = sql_text(SQL_NAME)
    if _ORDER_KEY not in text:  # pragma: no cover - a broken shipped file
        raise RuntimeError(f"{SQL_NAME}.sql lost its order-key marker")
    text = text.replace(_ORDER_KEY, f"({order.key})")
    return order.fill(text, counts) if isinstance(order, SqlBoost) else text


def estimate_in_sql(
    runner: QueryRunner,
    date_range: DateRange,
    order: SqlCandidate,
    theta: np.ndarray,
    *,
    metric: Metric = "clicks",
    retriever: str | None = None,
    k: int = 10,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    support_ratio: float = DEFAULT_SUPPORT_RATIO,
    materialize: bool | None = None,
) -> SqlEstimate:
    """IPS, SNIPS and DR of `order` and of its difference from the logged policy, with 95 %
    delta-method intervals and support, from one ClickHouse statement. For a boost,
    `materialize` writes its counts to a scratch table first, so the statement's two passes
    read them instead of computing them twice (`counts_table`): None (default) = try, and
    compute them inline with a warning when the table cannot be written; True = always (an
    error otherwise); False = never."""
    if metric not in SQL_METRICS:
        raise InvalidArgumentError(
            f"metric: one of {', '.join(SQL_METRICS)} on the SQL path, got {metric!r} "
            "(the type-weighted reward: OfflineEvaluation.run)"
        )
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (k,) or not np.all(theta > 0):
        raise InvalidArgumentError(f"theta: need {k} positive propensities, got {theta!r}")
    params = runner.params(
        SQL_NAME,
        date_range,
        retriever,
        max_positions=k,
        metric_types=vocabulary(runner.settings)[SQL_METRICS[metric]],
        theta=[float(t) for t in theta / theta[0]],
        prior_strength=prior_strength,
        support_ratio=support_ratio,
    )
    settings = "\nSETTINGS final = 1" if runner.dedupe else ""
    if not isinstance(order, SqlBoost):
        (row,) = runner.backend.query(statement(order).rstrip() + settings, params)
        return from_sums(order.name, metric, row)
    params |= order.params(runner, date_range, retriever, k)
    scratch = (
        counts_table(runner.backend, params, required=materialize is True, settings=settings)
        if materialize is not False
        else contextlib.nullcontext(None)
    )
    with scratch as counts:
        (row,) = runner.backend.query(statement(order, counts).rstrip() + settings, params)
    return from_sums(order.name, metric, row)


def from_sums(name: str, metric: Metric, row: dict[str, Any]) -> SqlEstimate:
    """The statement's sums -> estimates (mean +- 1.96 standard errors, as `_from_terms`)."""
    n = int(row["n"])
    if n == 0:
        raise InvalidArgumentError("logs: no answered searches in this range")
    if int(row["repeated"]):
        raise InvalidArgumentError(
            f"{row['repeated']} logged list(s) repeat a document: the SQL path needs distinct "
            "documents per list; use the numpy path (OfflineEvaluation.run)"
        )
    estimates = {e: _interval(e, metric, row[f"{e}_sum"], row[f"{e}_sq"], n) for e in ESTIMATORS}
    differences = {
        e: _interval(e, metric, row[f"{e}_diff"], row[f"{e}_diff_sq"], n) for e in ESTIMATORS
    }
    slots = max(int(row["slots"]), 1)
    return SqlEstimate(
        name=name,
        metric=metric,
        searches=n,
        logged=float(row["logged_sum"]) / n,
        estimates=estimates,
        differences=differences,
        support=float(row["supported_exam"]) / max(float(row["slot_exam"]), 1e-12),
        support_slots=float(row["supported_slots"]) / slots,
        changed_share=float(row["changed"]) / n,
        ess={
            "ips": _kish(row["w_sum"], row["w_sq"], slots),
            "snips": _kish(row["pooled_sum"], row["pooled_sq"], slots),
        },
    )


def _interval(
    estimator: Estimator, metric: Metric, total: float, square: float, n: int
) -> Estimate:
    """Mean and standard error from a sum and a sum of squares (ddof=1, as numpy's)."""
    mean = float(total) / n
    if n > 1:
        variance = max((float(square) - n * mean * mean) / (n - 1), 0.0)
        se = math.sqrt(variance / n)
    else:
        se = math.inf
    return Estimate(estimator, metric, mean, se, mean - Z95 * se, mean + Z95 * se)


def _kish(total: float, square: float, count: int) -> float:
    return float(total) ** 2 / float(square) / count if square else 0.0
