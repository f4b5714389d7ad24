"""The lift experiment: base retriever -> simulated users -> the real pipeline -> fine-tune -> lift.

One traffic run serves every seed. Each seed is a separate simulated deployment: its own
50/50 (by default) split of the judged queries into traffic queries and held-out queries, its
own users, sessions and clicks, and its own retriever_id tag, so one pipeline run carries all
seeds without mixing them, and what varies between seeds is everything a rerun would vary.
Within a seed, sessions are assigned to training or evaluation up front and placed in
separate time windows; the export reads only the training window.

Two splits are scored against the human judgements: ``held_out_sessions`` (traffic queries
that users asked again in the evaluation sessions; their training pairs came from other
sessions) and ``held_out_queries`` (queries that had no traffic at all). Two ablations retrain
on the same traffic: no position-bias correction, and random instead of hard negatives.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from interaction_pipeline.analytics import Analytics, BiasEstimate, DateRange
from interaction_pipeline.lift._clicks import ClickModel, SeedTraffic, TrafficPlan, simulate_seed
from interaction_pipeline.lift._events import retriever_tag, search_events
from interaction_pipeline.lift._pairs import VARIANTS, PairSet, Variant, export_pairs
from interaction_pipeline.lift._pipeline import PipelineRun, run_settings, send_through_pipeline
from interaction_pipeline.lift._report import (
    METRICS,
    SPLITS,
    Paired,
    comparison,
    paired,
    summarise,
    versus_full,
)
from interaction_pipeline.orchestration import TrafficStats
from interaction_pipeline.training import (
    DEFAULT_CACHE_DIR,
    DEFAULT_MODEL,
    CachedEmbedder,
    Dataset,
    Embedder,
    EmbeddingRetriever,
    EvaluationResult,
    evaluate,
    fine_tune,
    resolve_embedder,
)
from schemas.events import Event
from schemas.settings import Settings
from sinks import open_backend

Say = Callable[[str], None]


@dataclass(frozen=True)
class LiftConfig:
    """Every knob of the experiment; the defaults are the documented Cranfield setting."""

    seeds: tuple[int, ...] = (1, 2, 3)
    traffic_share: float = 0.5
    """Share of the judged queries that get traffic; the rest are the held-out queries."""
    plan: TrafficPlan = field(default_factory=TrafficPlan)
    clicks: ClickModel = field(default_factory=ClickModel)
    min_interactions: int = 2
    """The export's threshold for a positive (engagements of one query and document)."""
    base_model: str = DEFAULT_MODEL
    adapter: dict[str, Any] = field(default_factory=dict)
    """AdapterOptions overrides for fine_tune (``{"epochs": 30}``)."""
    resamples: int = 10_000
    ablations: bool = True
    worker: bool = False
    """Also run the popularity worker (Redis counts); the experiment itself does not need it."""

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds: give at least one")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: must be distinct, got {list(self.seeds)}")
        if not 0 < self.traffic_share < 1:
            raise ValueError(f"traffic_share: must be in (0, 1), got {self.traffic_share}")
        if self.min_interactions < 1:
            raise ValueError(f"min_interactions: must be >= 1, got {self.min_interactions}")
        if self.resamples < 100:
            raise ValueError(f"resamples: must be >= 100, got {self.resamples}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        return data


@dataclass(frozen=True, slots=True)
class QuerySplit:
    """One seed's judged queries: those that get traffic and those that never do."""

    traffic: tuple[str, ...]
    held_out: tuple[str, ...]


def split_queries(query_ids: Sequence[str], share: float, seed: int) -> QuerySplit:
    """Seeded split; both sides get at least one query."""
    if len(query_ids) < 2:
        raise ValueError(f"need at least 2 judged queries to split, got {len(query_ids)}")
    order = np.random.default_rng([seed, 7]).permutation(len(query_ids))
    cut = min(len(query_ids) - 1, max(1, round(len(query_ids) * share)))
    chosen = sorted(int(i) for i in order[:cut])
    rest = sorted(int(i) for i in order[cut:])
    return QuerySplit(tuple(query_ids[i] for i in chosen), tuple(query_ids[i] for i in rest))


@dataclass
class _Seed:
    seed: int
    split: QuerySplit
    traffic: SeedTraffic
    events: int = 0


@dataclass
class _Clock:
    """Wall time per phase, for the report's ``timing``."""

    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - self._last, 2)
        self._last = now

    def to_dict(self) -> dict[str, float]:
        return {**self.phases, "total_s": round(time.perf_counter() - self.started, 2)}


def run_lift(
    dataset: Dataset,
    settings: Settings,
    out_dir: Path,
    config: LiftConfig | None = None,
    *,
    embedder: Embedder | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    progress: bool = True,
    say: Say = lambda _m: None,
    on_traffic: Callable[[TrafficStats, int], None] | None = None,
) -> dict[str, Any]:
    """Run the whole loop and return the report (also written to ``out_dir/lift.json``)."""
    cfg = config or LiftConfig()
    clock = _Clock()
    judged = list(dataset.judged_queries())
    if len(judged) < 4:
        raise ValueError(f"{dataset.name}: {len(judged)} judged queries; the lift needs >= 4")
    base_embedder = embedder if embedder is not None else resolve_embedder(cfg.base_model)
    cached = CachedEmbedder(base_embedder, cache_dir, progress=progress)
    texts = dataset.document_texts()
    cached_before = len(cached.cache) if cached.cache is not None else 0
    base = EmbeddingRetriever(cached, progress=progress)
    say(
        f"embedding {len(texts):,} documents (cached ones are read back) and ranking "
        f"{len(judged)} judged queries with {base.model_id}"
    )
    base.index(texts)
    warm_share = _cached_share(cached, cached_before, len(set(texts.values())))
    clock.lap("embed_corpus_s")
    depth = cfg.plan.page_size + cfg.plan.extra_candidates
    rankings = base.search({q: dataset.queries[q] for q in judged}, depth)
    clock.lap("rank_s")

    run_id = uuid.uuid4().hex[:10]
    end_ms = int(datetime.now(UTC).timestamp() * 1000)
    seeds = [_simulate(seed, judged, rankings, dataset, cfg, end_ms) for seed in cfg.seeds]
    clock.lap("simulate_s")
    run = PipelineRun(
        run_id, run_settings(settings, run_id, out_dir / f"run-{run_id}"), out_dir / f"run-{run_id}"
    )
    total = sum(_event_count(s) for s in seeds)
    say(f"sending {total:,} events for {len(seeds)} seed(s) through Kafka (run {run_id})")
    stats, lags = send_through_pipeline(
        run,
        _all_events(run_id, seeds, dataset, len(dataset.corpus), cfg.clicks.long_view_ms),
        worker=cfg.worker,
        on_progress=None if on_traffic is None else (lambda s: on_traffic(s, total)),
        say=say,
    )
    clock.lap("pipeline_s")

    say("on ClickHouse: bias estimate, training pairs, fine-tuning and evaluation per seed")
    backend = open_backend(run.settings)
    try:
        analytics = Analytics(backend, run.settings)
        seed_reports = [
            _train_and_evaluate(s, analytics, dataset, cached, cfg, cache_dir, say) for s in seeds
        ]
    finally:
        backend.close()
    clock.lap("train_eval_s")
    report = _assemble(seed_reports, cfg)
    report["timing"] = {**clock.to_dict(), "corpus_cache_hit_share": round(warm_share, 3)}
    report["config"] = {
        **cfg.to_dict(),
        "dataset": dataset.name,
        "documents": len(dataset.corpus),
        "judged_queries": len(judged),
        "base_model_id": base.model_id,
        "run_id": run_id,
        "chdb": run.settings.clickhouse.url,
    }
    report["traffic"] = {**stats.to_dict(), "events": total, "lag_after_catch_up": lags}
    out_dir.mkdir(parents=True, exist_ok=True)
    return report


def _cached_share(cached: CachedEmbedder, before: int, distinct: int) -> float:
    """Share of the corpus that came from the on-disk cache (1.0: a warm run)."""
    if cached.cache is None or not distinct:
        return 0.0
    return max(0.0, 1.0 - (len(cached.cache) - before) / distinct)


def _simulate(
    seed: int,
    judged: list[str],
    rankings: dict[str, list[str]],
    dataset: Dataset,
    cfg: LiftConfig,
    end_ms: int,
) -> _Seed:
    split = split_queries(judged, cfg.traffic_share, seed)
    traffic = simulate_seed(
        seed,
        split.traffic,
        rankings,
        dataset.qrels,
        plan=cfg.plan,
        model=cfg.clicks,
        end_ms=end_ms,
    )
    return _Seed(seed, split, traffic)


def _event_count(seed: _Seed) -> int:
    searches = seed.traffic.searches
    seed.events = len(searches) + sum(
        1 + (r.kind == "click" and (r.purchased or not r.satisfied))
        for s in searches
        for r in s.reactions
    )
    return seed.events


def _all_events(
    run_id: str, seeds: list[_Seed], dataset: Dataset, hits: int, long_view_ms: int
) -> Iterator[Event]:
    for s in seeds:
        yield from search_events(
            run_id,
            s.seed,
            s.traffic.searches,
            dataset.queries,
            total_hits=hits,
            long_view_ms=long_view_ms,
        )


def _window(bounds: tuple[int, int]) -> DateRange:
    start, end = bounds
    return DateRange(
        datetime.fromtimestamp(start / 1000, tz=UTC), datetime.fromtimestamp(end / 1000, tz=UTC)
    )


def _train_and_evaluate(
    s: _Seed,
    analytics: Analytics,
    dataset: Dataset,
    cached: CachedEmbedder,
    cfg: LiftConfig,
    cache_dir: Path | None,
    say: Say,
) -> dict[str, Any]:
    tag = retriever_tag(s.seed)
    train_range = _window(s.traffic.train_window_ms)
    bias = analytics.position_bias(train_range, tag)
    texts = dataset.document_texts()
    allowed = [dataset.queries[q] for q in s.split.traffic]
    variants: Sequence[Variant] = VARIANTS if cfg.ablations else ("full",)
    pair_sets = {
        v: export_pairs(
            analytics,
            v,
            date_range=train_range,
            retriever_id=tag,
            min_interactions=cfg.min_interactions,
            bias=bias,
            texts=texts,
            allowed_queries=allowed,
            seed=s.seed,
        )
        for v in variants
    }
    eval_queries = [
        q for q in s.traffic.queries_in(s.traffic.evaluation_searches()) if q in s.split.traffic
    ]
    subsets = {
        "held_out_sessions": dataset.subset(eval_queries, name=f"{dataset.name}/sessions"),
        "held_out_queries": dataset.subset(s.split.held_out, name=f"{dataset.name}/queries"),
    }
    base = EmbeddingRetriever(cached, progress=False)
    base_results = {k: evaluate(base, d, metrics=METRICS, name="base") for k, d in subsets.items()}
    tuned: dict[str, dict[str, EvaluationResult]] = {}
    training: dict[str, Any] = {}
    for variant, pair_set in pair_sets.items():
        model, seconds = _fine_tune(pair_set, cached, cfg, cache_dir)
        training[variant] = {**pair_set.stats, "seconds": seconds}
        tuned[variant] = {
            k: evaluate(model, d, metrics=METRICS, name=variant) for k, d in subsets.items()
        }
    say(
        f"seed {s.seed}: {pair_sets['full'].stats['pairs']} pairs from "
        f"{len(s.traffic.training_searches())} training searches"
    )
    return {
        "seed": s.seed,
        "queries": {"traffic": len(s.split.traffic), "held_out": len(s.split.held_out)},
        "searches": {
            "training": len(s.traffic.training_searches()),
            "evaluation": len(s.traffic.evaluation_searches()),
        },
        "events": s.events,
        "bias": _bias_summary(bias, cfg),
        "training": training,
        "_base": base_results,
        "_tuned": tuned,
    }


def _fine_tune(
    pair_set: PairSet, cached: CachedEmbedder, cfg: LiftConfig, cache_dir: Path | None
) -> tuple[Any, float]:
    started = time.perf_counter()
    model = fine_tune(
        cached.embedder, pair_set.pairs, cache_dir=cache_dir, progress=False, **cfg.adapter
    )
    return model, round(time.perf_counter() - started, 2)


def _bias_summary(bias: BiasEstimate, cfg: LiftConfig) -> dict[str, Any]:
    shown = cfg.plan.page_size
    true = cfg.clicks.examination(shown)
    return {
        "estimated": [round(float(p), 4) for p in bias.propensity(np.arange(shown))],
        "true": [round(float(p), 4) for p in true / true[0]],
        "sources": sorted({p.source for p in bias.positions[:shown]}),
        "notes": list(bias.notes),
    }


def _assemble(seed_reports: list[dict[str, Any]], cfg: LiftConfig) -> dict[str, Any]:
    """Per-seed comparisons, then the mean over seeds with the stratified interval."""
    per_seed: list[dict[str, Any]] = []
    strata: dict[tuple[str, str], list[Paired]] = {}
    for rep in seed_reports:
        base, tuned = rep.pop("_base"), rep.pop("_tuned")
        rep["splits"] = {}
        rep["ablations"] = {}
        for variant, results in tuned.items():
            for split in SPLITS:
                cmp = comparison(
                    base[split], results[split], resamples=cfg.resamples, seed=rep["seed"]
                )
                strata.setdefault((variant, split), []).append(paired(base[split], results[split]))
                if variant == "full":
                    rep["splits"][split] = cmp
                else:
                    versus = comparison(
                        tuned["full"][split],
                        results[split],
                        resamples=cfg.resamples,
                        seed=rep["seed"],
                    )
                    strata.setdefault((f"{variant}/vs_full", split), []).append(
                        paired(tuned["full"][split], results[split])
                    )
                    cmp["vs_full"] = {"lift_pct": versus["lift_pct"], "ci95": versus["ci95"]}
                    rep["ablations"].setdefault(variant, {})[split] = cmp
        per_seed.append(rep)

    def summary(variant: str, split: str) -> dict[str, Any]:
        rows = [
            r["splits"][split] if variant == "full" else r["ablations"][variant][split]
            for r in per_seed
        ]
        return summarise(rows, strata[(variant, split)], resamples=cfg.resamples)

    splits = {split: summary("full", split) for split in SPLITS}
    ablations: dict[str, Any] = {}
    for variant in VARIANTS[1:] if cfg.ablations else ():
        ablations[_ABLATION_NAMES[variant]] = {
            split: {
                **summary(variant, split),
                "vs_full": versus_full(
                    strata[(f"{variant}/vs_full", split)],
                    [r["ablations"][variant][split]["vs_full"]["lift_pct"] for r in per_seed],
                    resamples=cfg.resamples,
                ),
            }
            for split in SPLITS
        }
    return {"splits": splits, "ablations": ablations, "seeds": per_seed}


_ABLATION_NAMES = {
    "no_ipw": "no_position_bias_correction",
    "random_negatives": "random_negatives",
}
