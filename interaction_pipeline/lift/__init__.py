"""The lift experiment: does fine-tuning on the pipeline's own interaction data help?

A base retriever ranks a judged dataset's queries; simulated users click on what it shows
(a position-based click model driven by the human grades); their events go through the real
pipeline (SDK and HTTP collector -> Kafka -> ClickHouse sink); the bias estimate and training
pairs come back out of ClickHouse, a query adapter is fine-tuned on them, and base and tuned
retrievers are compared on the human judgements, with intervals, over several seeds::

    from interaction_pipeline.lift import LiftConfig, run_lift
    from interaction_pipeline.training import load_beir

    report = run_lift(load_beir("data/cranfield-beir"), settings, Path("out/lift"))
    print(report["splits"]["held_out_sessions"]["lift_pct"])
"""

from interaction_pipeline.lift._clicks import (
    ClickModel,
    Reaction,
    Search,
    SeedTraffic,
    TrafficPlan,
    simulate_seed,
    zipf_weights,
)
from interaction_pipeline.lift._experiment import LiftConfig, QuerySplit, run_lift, split_queries
from interaction_pipeline.lift._pairs import export_has_random_negatives
from interaction_pipeline.lift._record import DEFAULT_RESULTS, record_run
from interaction_pipeline.lift._report import stratified_lift
from interaction_pipeline.lift._synthetic import synthetic_dataset, write_synthetic

__all__ = [
    "DEFAULT_RESULTS",
    "ClickModel",
    "LiftConfig",
    "QuerySplit",
    "Reaction",
    "Search",
    "SeedTraffic",
    "TrafficPlan",
    "export_has_random_negatives",
    "record_run",
    "run_lift",
    "simulate_seed",
    "split_queries",
    "stratified_lift",
    "synthetic_dataset",
    "write_synthetic",
    "zipf_weights",
]
