"""`OfflineEvaluation`: the counterfactual evaluation over a ClickHouse backend.

    evaluation = OfflineEvaluation(open_backend(settings), settings)
    logs = evaluation.logs("last_30_days")
    report = evaluation.run(logs, [evaluation.boost(BoostConfig(boost_multiplier=1.5))])
    print(report.to_dict()["candidates"][0]["verdict"])

Read-only, like the analytics it builds on: the same QueryRunner (vocabulary, dedupe), the
PBM/EM position-bias estimate of `interactions bias`, plus the swap interventions when the
logs carry exploration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interaction_pipeline.analytics import Analytics, BiasEstimate, DateRange
from interaction_pipeline.counterfactual._candidates import LOGGED, BoostCandidate, Candidate
from interaction_pipeline.counterfactual._counts import TimelineCounts
from interaction_pipeline.counterfactual._exploration import combine, swap_propensities
from interaction_pipeline.counterfactual._load import ClickHouseTimelines, load_logs
from interaction_pipeline.counterfactual._logs import LoggedSearches, Metric
from interaction_pipeline.counterfactual._pushdown import (
    SqlCandidate,
    SqlEstimate,
    estimate_in_sql,
)
from interaction_pipeline.counterfactual._report import (
    CounterfactualReport,
    EvaluationOptions,
    evaluate,
)
from schemas.errors import InvalidArgumentError
from schemas.settings import Settings
from sinks import ClickHouseBackend
from stream_processors import BoostConfig

DEFAULT_K = 10


def as_range(date_range: DateRange | str) -> DateRange:
    return date_range if isinstance(date_range, DateRange) else DateRange.parse(date_range)


class OfflineEvaluation:
    """Logs, candidates and estimates over one backend."""

    def __init__(
        self, backend: ClickHouseBackend, settings: Settings, *, dedupe: bool = False
    ) -> None:
        self.settings = settings
        self.analytics = Analytics(backend, settings, dedupe=dedupe)
        self.runner = self.analytics.runner
        self._range: DateRange | None = None
        self._retriever: str | None = None

    def logs(
        self, date_range: DateRange | str = "last_30_days", retriever: str | None = None,
        k: int = DEFAULT_K,
    ) -> LoggedSearches:  # fmt: skip
        """Every answered search in the range with its first k results and outcomes."""
        self._range, self._retriever = as_range(date_range), retriever
        return load_logs(self.runner, self._range, retriever, k)

    def boost(self, config: BoostConfig, name: str = "boost") -> BoostCandidate:
        """A boost config replayed with the counts of each search's time (call `logs`
        first: the counts are read for its range plus one window before)."""
        if self._range is None:
            raise RuntimeError("call logs(...) before building a boost candidate")
        loader = ClickHouseTimelines(self.runner, self._range)
        counts = TimelineCounts(loader, self.settings.popularity.default_window_days)
        return BoostCandidate(config, counts, name)

    def estimate(
        self,
        order: SqlCandidate,
        date_range: DateRange | str = "last_30_days",
        *,
        metric: Metric = "clicks",
        retriever: str | None = None,
        k: int = DEFAULT_K,
        bias: BiasEstimate | None = None,
        options: EvaluationOptions | None = None,
    ) -> SqlEstimate:
        """One re-ordering against the logged policy, computed inside ClickHouse (the fast
        path: seconds on 10M events where `logs` + `run` take minutes). The propensities are
        EM's on the same range unless `bias` is given; logged swaps are not used here."""
        span = as_range(date_range)
        if bias is None:
            bias = self.analytics.position_bias(span, retriever, max_positions=max(k, 2))
        opts = options or EvaluationOptions()
        theta = bias.propensity(np.arange(k))
        return estimate_in_sql(
            self.runner,
            span,
            order,
            theta / theta[0],
            metric=metric,
            retriever=retriever,
            k=k,
            prior_strength=opts.prior_strength,
            support_ratio=opts.support_ratio,
        )

    def run_sql(
        self,
        orders: Sequence[SqlCandidate],
        date_range: DateRange | str = "last_30_days",
        *,
        retriever: str | None = None,
        k: int = DEFAULT_K,
        options: EvaluationOptions | None = None,
        bias: BiasEstimate | None = None,
    ) -> CounterfactualReport:
        """The offline A/B of `run`, for re-orderings against the logged policy, computed in
        ClickHouse: one statement per candidate, the gate's metric only, delta intervals."""
        opts = options or EvaluationOptions()
        if opts.interval != "delta":
            raise InvalidArgumentError("interval: the SQL path has delta intervals only")
        names = [o.name for o in orders]
        if not names or len(set(names)) != len(names) or LOGGED in names:
            raise InvalidArgumentError(f"candidates: names must be unique and not {LOGGED!r}")
        span = as_range(date_range)
        source = "given"
        if bias is None:
            bias = self.analytics.position_bias(span, retriever, max_positions=max(k, 2))
            source = "em"
        theta = bias.propensity(np.arange(k))
        theta = theta / theta[0]
        results = [
            self.estimate(o, span, metric=opts.metric, retriever=retriever, k=k, bias=bias,
                          options=opts)
            for o in orders
        ]  # fmt: skip
        return CounterfactualReport(
            searches=results[0].searches,
            k=k,
            baseline=LOGGED,
            propensity=tuple(float(t) for t in theta),
            propensity_source=source,
            options=opts,
            logged={opts.metric: results[0].logged},
            candidates=tuple(r.to_result(opts, k) for r in results),
            notes=(*bias.notes, "SQL path: the gate's metric only"),
        )

    def run(
        self,
        logs: LoggedSearches,
        candidates: Sequence[Candidate],
        *,
        baseline: str = LOGGED,
        options: EvaluationOptions | None = None,
        bias: BiasEstimate | None = None,
        bias_source: str = "auto",
    ) -> CounterfactualReport:
        """Estimate and compare; the propensities are estimated from the same range unless
        `bias` (an `interactions bias --json` result) is given."""
        if bias is None:
            if self._range is None:
                raise RuntimeError("call logs(...) first, or pass bias=")
            bias = self.analytics.position_bias(
                self._range, self._retriever, max_positions=max(logs.k, 2)
            )
        swaps = swap_propensities(logs)
        theta, source, notes = combine(bias, swaps, logs.k, bias_source)
        return evaluate(
            logs,
            candidates,
            theta,
            baseline=baseline,
            options=options,
            propensity_source=source,
            swaps=swaps,
            notes=[*bias.notes, *notes],
        )
