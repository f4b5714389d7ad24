"""Evaluate candidates against a baseline and decide: the offline A/B and its gate.

Every candidate is scored on the same searches, so its difference from the baseline is a
paired one (per-search differences), much tighter than two separate intervals. The gate
reads one estimator and one metric (DR on clicks by default): a candidate is *worse* when the
whole 95 % interval of its difference lies below -tolerance x baseline, *better* when it lies
above 0, and *inconclusive* when the logs support too little of its top-k to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from interaction_pipeline.counterfactual._candidates import LOGGED, Candidate, LoggedPolicy
from interaction_pipeline.counterfactual._estimators import (
    DEFAULT_PRIOR_STRENGTH,
    DEFAULT_SUPPORT_RATIO,
    ESTIMATORS,
    Estimate,
    Estimator,
    Evaluator,
    IntervalMethod,
    PolicyTerms,
    percentile_interval,
)
from interaction_pipeline.counterfactual._exploration import SwapEstimate, exploration_cost
from interaction_pipeline.counterfactual._logs import METRICS, LoggedSearches, Metric
from schemas.errors import InvalidArgumentError

Verdict = Literal["better", "worse", "no detectable difference", "inconclusive", "baseline"]
DEFAULT_MIN_SUPPORT: Final = 0.7


@dataclass(frozen=True, slots=True)
class EvaluationOptions:
    """Knobs of an evaluation; the defaults are what `interactions counterfactual` uses."""

    estimator: Estimator = "dr"
    """What the gate reads."""
    metric: Metric = "clicks"
    interval: IntervalMethod = "delta"
    resamples: int = 200
    tolerance: float = 0.0
    """Relative drop (of the baseline) the gate tolerates: 0.01 = fail only if surely > 1 %."""
    min_support: float = DEFAULT_MIN_SUPPORT
    support_ratio: float = DEFAULT_SUPPORT_RATIO
    prior_strength: float = DEFAULT_PRIOR_STRENGTH
    seed: int = 0

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise InvalidArgumentError(f"estimator: one of {', '.join(ESTIMATORS)}")
        if self.metric not in METRICS:
            raise InvalidArgumentError(f"metric: one of {', '.join(METRICS)}")
        if self.interval not in ("delta", "bootstrap"):
            raise InvalidArgumentError("interval: delta or bootstrap")
        if not 0 <= self.min_support <= 1:
            raise InvalidArgumentError(f"min_support: between 0 and 1, got {self.min_support}")
        if self.tolerance < 0:
            raise InvalidArgumentError(f"tolerance: must be >= 0, got {self.tolerance}")
        if self.resamples < 20:
            raise InvalidArgumentError(f"resamples: at least 20, got {self.resamples}")


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """One candidate: estimates per metric and estimator, the paired difference from the
    baseline, support, effective sample size and the gate's verdict."""

    name: str
    estimates: dict[Metric, dict[Estimator, Estimate]]
    differences: dict[Metric, dict[Estimator, Estimate]]
    support: float
    support_slots: float
    shown_share: float
    in_search_share: float
    changed_share: float
    ess: dict[str, float]
    verdict: Verdict
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "estimates": _nested(self.estimates),
            "difference": _nested(self.differences),
            "support": self.support,
            "support_slots": self.support_slots,
            "shown_share": self.shown_share,
            "in_search_share": self.in_search_share,
            "changed_share": self.changed_share,
            "effective_sample_share": self.ess,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class CounterfactualReport:
    """The whole offline A/B: logs, propensities, baseline, candidates and verdicts."""

    searches: int
    k: int
    baseline: str
    propensity: tuple[float, ...]
    propensity_source: str
    options: EvaluationOptions
    logged: dict[Metric, float]
    """The logged policy's observed outcome per search (top k)."""
    candidates: tuple[CandidateResult, ...]
    exploration: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def worse(self) -> list[str]:
        """Candidates the gate fails (the logged policy is never one: it already runs)."""
        return [c.name for c in self.candidates if c.verdict == "worse" and c.name != LOGGED]

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "searches": self.searches,
            "k": self.k,
            "baseline": self.baseline,
            "gate": {
                "estimator": o.estimator,
                "metric": o.metric,
                "tolerance": o.tolerance,
                "min_support": o.min_support,
                "interval": o.interval,
                "failed": self.worse,
            },
            "propensity": list(self.propensity),
            "propensity_source": self.propensity_source,
            "logged": self.logged,
            "candidates": [c.to_dict() for c in self.candidates],
            "exploration": self.exploration,
            "notes": list(self.notes),
        }


def evaluate(
    logs: LoggedSearches,
    candidates: Sequence[Candidate],
    theta: np.ndarray,
    *,
    baseline: str = LOGGED,
    options: EvaluationOptions | None = None,
    propensity_source: str = "given",
    swaps: SwapEstimate | None = None,
    notes: Sequence[str] = (),
) -> CounterfactualReport:
    """Estimate every candidate and compare it with `baseline` (the logged policy, or the
    name of one of the candidates) on the same searches."""
    opts = options or EvaluationOptions()
    names = [c.name for c in candidates]
    if len(set(names)) != len(names) or LOGGED in names:
        raise InvalidArgumentError(f"candidates: names must be unique and not {LOGGED!r}")
    if baseline != LOGGED and baseline not in names:
        raise InvalidArgumentError(f"baseline: {LOGGED!r} or one of {names}, got {baseline!r}")
    evaluator = Evaluator(
        logs,
        theta,
        prior_strength=opts.prior_strength,
        support_ratio=opts.support_ratio,
        seed=opts.seed,
    )
    everyone: list[Candidate] = [LoggedPolicy(), *candidates]
    scored = {c.name: evaluator.score(c.name, c.rank(logs)) for c in everyone}
    base = scored[baseline]
    samples = (
        evaluator.bootstrap(list(scored.values()), opts.resamples, opts.seed)
        if opts.interval == "bootstrap"
        else None
    )
    shown = names if baseline == LOGGED else [LOGGED, *names]
    results = tuple(_result(evaluator, scored[name], base, opts, samples) for name in shown)
    exploration = None
    if swaps is not None:
        cost = exploration_cost(
            evaluator.pairs.rate("clicks"),
            evaluator.pairs.code,
            evaluator.theta,
            swaps.epsilon,
            swaps.depth,
        )
        logged_clicks = float(logs.outcome("clicks").sum(axis=1).mean())
        exploration = swaps.to_dict() | {
            "cost_clicks_per_search": cost,
            "cost_share": cost / logged_clicks if logged_clicks else 0.0,
        }
    return CounterfactualReport(
        searches=logs.n,
        k=logs.k,
        baseline=baseline,
        propensity=tuple(float(t) for t in evaluator.theta),
        propensity_source=propensity_source,
        options=opts,
        logged={m: float(logs.outcome(m).sum(axis=1).mean()) for m in METRICS},
        candidates=results,
        exploration=exploration,
        notes=tuple(notes),
    )


def _result(
    evaluator: Evaluator,
    policy: PolicyTerms,
    base: PolicyTerms,
    opts: EvaluationOptions,
    samples: dict[tuple[str, Estimator, Metric], np.ndarray] | None,
) -> CandidateResult:
    estimates: dict[Metric, dict[Estimator, Estimate]] = {m: {} for m in METRICS}
    differences: dict[Metric, dict[Estimator, Estimate]] = {m: {} for m in METRICS}
    for m in METRICS:
        for e in ESTIMATORS:
            if samples is None:
                estimates[m][e] = evaluator.estimate(policy, e, m)
                differences[m][e] = evaluator.difference(policy, base, e, m)
            else:
                point = policy.value(e, m)
                estimates[m][e] = percentile_interval(e, m, point, samples[(policy.name, e, m)])
                delta = samples[(policy.name, e, m)] - samples[(base.name, e, m)]
                differences[m][e] = percentile_interval(e, m, point - base.value(e, m), delta)
    gate = differences[opts.metric][opts.estimator]
    verdict, notes = decide(
        policy.name,
        base.name,
        gate,
        base.value(opts.estimator, opts.metric),
        policy.support,
        policy.ess["ips"],
        opts,
        evaluator.logs.k,
    )
    return CandidateResult(
        name=policy.name,
        estimates=estimates,
        differences=differences,
        support=policy.support,
        support_slots=policy.support_slots,
        shown_share=policy.shown_share,
        in_search_share=policy.in_search_share,
        changed_share=policy.changed_share,
        ess=policy.ess,
        verdict=verdict,
        notes=tuple(notes),
    )


def decide(
    name: str,
    base_name: str,
    gate: Estimate,
    base_value: float,
    support: float,
    ess_ips: float,
    opts: EvaluationOptions,
    k: int,
) -> tuple[Verdict, list[str]]:
    """The gate's verdict on one candidate from its paired difference and support, with the
    notes a reader needs (shared by the numpy and the SQL path)."""
    notes: list[str] = []
    verdict: Verdict
    if name == base_name:
        verdict = "baseline"
    elif support < opts.min_support:
        verdict = "inconclusive"
        notes.append(
            f"support too thin to conclude: the logs showed only {support:.0%} of this "
            f"ranking's top-{k} (examination-weighted) for its query at a "
            f"comparable position (need {opts.min_support:.0%}); IPS and SNIPS leave the rest "
            "out, DR fills it in from its model"
        )
    elif gate.high < -opts.tolerance * base_value:
        verdict = "worse"
    elif gate.low > 0:
        verdict = "better"
    else:
        verdict = "no detectable difference"
    if ess_ips < 0.1:
        notes.append(
            f"IPS effective sample size is {ess_ips:.0%} of the shown results: "
            "IPS is noisy here, read SNIPS and DR"
        )
    return verdict, notes


def _nested(values: dict[Metric, dict[Estimator, Estimate]]) -> dict[str, Any]:
    return {m: {e: est.to_dict() for e, est in by.items()} for m, by in values.items()}
