"""Counterfactual (offline A/B) evaluation of rankings from logged interactions.

Estimate what a ranking change (a boost config, a fine-tuned retriever, any ranking in a
file) would collect in clicks, conversions and type-weighted reward per search, from the
search events and clicks already logged, under the position-based click model: item-position
IPS, self-normalised IPS and doubly robust estimates with 95 % intervals, effective sample
size and support, and a gate that fails a candidate that is worse with confidence::

    from interaction_pipeline.counterfactual import OfflineEvaluation
    from stream_processors import BoostConfig

    evaluation = OfflineEvaluation(open_backend(settings), settings)
    logs = evaluation.logs("last_30_days")
    report = evaluation.run(logs, [evaluation.boost(BoostConfig(boost_multiplier=1.5))])
    report.worse  # names of candidates the gate fails

docs/counterfactual.md has the method, a worked example and the limits.
"""

from interaction_pipeline.counterfactual._api import DEFAULT_K, OfflineEvaluation
from interaction_pipeline.counterfactual._candidates import (
    LOGGED,
    BoostCandidate,
    Candidate,
    LoggedPolicy,
    RankingCandidate,
    Scorer,
    ScorerCandidate,
    base_scores,
    boost_multipliers,
    embedding_scorer,
)
from interaction_pipeline.counterfactual._counts import (
    CountSource,
    InteractionTimeline,
    StaticCounts,
    TimelineCounts,
)
from interaction_pipeline.counterfactual._estimators import (
    ESTIMATORS,
    Estimate,
    Estimator,
    Evaluator,
    PolicyTerms,
)
from interaction_pipeline.counterfactual._exploration import (
    SwapEstimate,
    combine,
    exploration_cost,
    swap_propensities,
)
from interaction_pipeline.counterfactual._logs import METRICS, LoggedSearches, Metric, from_arrow
from interaction_pipeline.counterfactual._pushdown import (
    SqlCandidate,
    SqlEstimate,
    SqlOrder,
    estimate_in_sql,
    md5_folds,
)
from interaction_pipeline.counterfactual._report import (
    CandidateResult,
    CounterfactualReport,
    EvaluationOptions,
    Verdict,
    evaluate,
)
from interaction_pipeline.counterfactual._simulated import (
    SimulatedExploration,
    simulated_logs,
    true_values,
)
from interaction_pipeline.counterfactual._sql_boost import SqlBoost
from schemas.exploration import Exploration, explore

__all__ = [
    "DEFAULT_K",
    "ESTIMATORS",
    "LOGGED",
    "METRICS",
    "BoostCandidate",
    "Candidate",
    "CandidateResult",
    "CountSource",
    "CounterfactualReport",
    "Estimate",
    "Estimator",
    "EvaluationOptions",
    "Evaluator",
    "Exploration",
    "InteractionTimeline",
    "LoggedPolicy",
    "LoggedSearches",
    "Metric",
    "OfflineEvaluation",
    "PolicyTerms",
    "RankingCandidate",
    "Scorer",
    "ScorerCandidate",
    "SimulatedExploration",
    "SqlBoost",
    "SqlCandidate",
    "SqlEstimate",
    "SqlOrder",
    "StaticCounts",
    "SwapEstimate",
    "TimelineCounts",
    "Verdict",
    "base_scores",
    "boost_multipliers",
    "combine",
    "embedding_scorer",
    "estimate_in_sql",
    "evaluate",
    "exploration_cost",
    "explore",
    "from_arrow",
    "md5_folds",
    "simulated_logs",
    "swap_propensities",
    "true_values",
]
