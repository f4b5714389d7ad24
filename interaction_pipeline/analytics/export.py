"""Training export: the seed's get_query_document_pairs, streamed to JSONL or Parquet.

analytics/sql/training_pairs.sql aggregates events and impressions (search events) to one row
per (query, document); this module picks roles one query at a time. Why on a debiased estimate
and not on raw clicks: a result at position 5 is seen a fifth as often as one at the top, so
its clicks understate it and a top result's lack of clicks is strong evidence while a deep
one's is not.

* relevance of a (query, document) is the position-based model's estimate given the
  `BiasEstimate`: clicks / examinations, examinations being the sum over its impressions of
  the propensity of the shown position, shrunk toward the query's own click rate per
  examination with `prior_examinations` pseudo-examinations (few impressions stay near the
  query's average instead of reading 0 or 1). `ipw=False` uses propensity 1 everywhere, i.e.
  raw click-through rates. Without impressions (no search events) it is unknown, and the
  event rules below decide alone, as before.
* a positive is a (query, document) users engaged with at least `min_interactions` times and
  more often than they rejected it, whose relevance is at least `positive_lift` x the query's
  click rate per examination (unless it has fewer than `positive_min_examinations`: too thin
  to overrule the engagement); its weight is the sum over its positive events of type strength
  (purchase > long_view > click, from schemas.interaction_types weights) times the clipped
  inverse propensity of the position it was clicked at;
* hard negatives for the same query, in this order: explicit negatives (skip,
  negative_feedback, return_to_results outweighing engagement); results shown above a clicked
  one and never engaged with, at least `skip_margin` times; then results shown often and
  high (examinations >= `min_examinations`) whose relevance is at most `negative_lift` x the
  query's rate: the seed's "high ranked but skipped" from impressions, which covers queries
  whose users report no skips. Each positive only takes a negative whose relevance is at most
  `pair_margin` x its own (when both are known and the negative has `min_examinations`), so a
  pair never teaches an order that the logs themselves contradict;
* every (query, positive) appears once; each gets the next eligible hard negative of its
  query in turn. `negatives="random"` instead draws one uniformly (seeded) from the query's
  shown documents that are not positives: the ablation baseline for hard negatives.

Weights stay type strength x clipped inverse propensity (not the relevance estimate): the
estimate decides *whether* a pair is trustworthy, the IPW sum says how much engagement it
would have had at the top, which keeps popular, strongly engaged pairs dominant and keeps the
weights comparable with earlier exports. Inverse-propensity weighting is a measured choice,
not a given (IPS-trained rankers scored lower on the Baidu-ULTR logs than naive ones): weights
are clipped, the effective sample size is reported, and `ipw=False` turns the correction off
(type strengths still apply) for weights and selection alike.

The sentence-transformers layout has exactly the columns anchor, positive, negative (that
library matches columns by position and treats label/score columns as targets), and
MultipleNegativesRankingLoss takes no per-example weight, so there the weights are applied
by seeded resampling: each positive is written Poisson(rows x weight / total weight) times,
the total being that of the candidate positives (before the relevance test drops some).

Rows stream from ClickHouse ordered by query, and only one query's rows are held at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from interaction_pipeline.analytics._sql import QueryRunner
from interaction_pipeline.analytics._writers import Format, Output, format_for
from interaction_pipeline.analytics.bias import DEFAULT_CLIP, BiasEstimate, effective_sample_size
from interaction_pipeline.analytics.pairs import (
    FULL_SCHEMA,
    ST_SCHEMA,
    ExportOptions,
    TextLookup,
    TrainingPair,
)
from interaction_pipeline.analytics.selection import (
    NegativeChooser,
    QueryRows,
    group_by_query,
    pairs_of,
)
from schemas.limits import MAX_RESULTS_PER_SEARCH


@dataclass(slots=True)
class ExportSummary:
    """What the export wrote and how the weights are spread (the IPW health check)."""

    path: str | None = None
    format: str | None = None
    layout: str = "full"
    ipw: bool = True
    clip: float = DEFAULT_CLIP
    bias_source: str = "none"
    negatives: str = "hard"
    queries: int = 0
    pairs: int = 0
    rows: int = 0
    explicit_negatives: int = 0
    """Distinct (query, document) negatives of each source that the pairs use."""
    skip_above_negatives: int = 0
    impression_negatives: int = 0
    random_negatives: int = 0
    pairs_without_negative: int = 0
    hard_negative_coverage: float = 0.0
    """Share of pairs that carry a negative."""
    dropped_positives: int = 0
    """Engaged often enough, but below the relevance bar once debiased: not exported."""
    unresolved_texts: int = 0
    clipped_events: int = 0
    positive_events: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    effective_sample_size: float = 0.0
    """Kish ESS of the pair weights (type strength, frequency and IPW together)."""
    effective_sample_ratio: float = 0.0
    ipw_effective_sample_size: float = 0.0
    """Kish ESS of the inverse-propensity factors over positive events: what IPW costs."""
    ipw_effective_sample_ratio: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_summary(weights: np.ndarray) -> dict[str, float]:
    if weights.size == 0:
        return {}
    q = np.quantile(weights, [0.5, 0.9, 0.99])
    return {
        "min": float(weights.min()),
        "mean": float(weights.mean()),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": float(weights.max()),
        "sum": float(weights.sum()),
    }


def propensity_parameter(bias: BiasEstimate | None) -> str:
    """The SQL `propensity` list: one relative propensity per position ('1' = no IPW)."""
    if bias is None:
        return "1"
    values = bias.propensity(np.arange(MAX_RESULTS_PER_SEARCH))
    return ",".join(repr(float(v)) for v in values)


ProgressFn = Callable[[int, int], None]
"""Called with (pairs so far, queries so far) while an export runs."""


class TrainingExporter:
    """Streams training pairs out of ClickHouse; see the module docstring for the rules."""

    def __init__(self, runner: QueryRunner, options: ExportOptions, bias: BiasEstimate | None):
        self.runner = runner
        self.options = options
        self.bias = bias if options.ipw else None

    def _batches(self) -> Iterator[pa.RecordBatch]:
        opts = self.options
        return self.runner.batches(
            "training_pairs",
            opts.date_range,
            opts.retriever,
            min_interactions=opts.min_interactions,
            clip=float(opts.clip),
            propensity=propensity_parameter(self.bias),
        )

    def pairs(self, on_progress: ProgressFn | None = None) -> Iterator[TrainingPair]:
        """Every (query, positive) pair with its hard negative, query by query."""
        done = 0
        for group in self.group_by_query():
            _, pairs = pairs_of(group, self.options)
            yield from pairs
            done += len(pairs)
            if on_progress is not None:
                on_progress(done, int(group.totals["candidate_positives"]))

    def group_by_query(self) -> Iterator[QueryRows]:
        return group_by_query(self._batches())

    def export(
        self,
        path: Path,
        *,
        fmt: str | None = None,
        texts: TextLookup | None = None,
        on_progress: ProgressFn | None = None,
    ) -> ExportSummary:
        """Write the pairs to `path` (JSONL or Parquet) and summarise them."""
        opts = self.options
        chosen: Format = format_for(path, fmt)
        summary = ExportSummary(
            path=str(path),
            format=chosen,
            layout=opts.layout,
            ipw=opts.ipw,
            clip=opts.clip,
            bias_source=self._bias_source(),
            negatives=opts.negatives,
        )
        schema = ST_SCHEMA if opts.layout == "sentence-transformers" else FULL_SCHEMA
        weights = array("d")
        ipw_moments = [0.0, 0.0]
        rng = np.random.default_rng(opts.seed)
        with Output(path, chosen, schema) as out:
            done = 0
            for group in self.group_by_query():
                selection, pairs = pairs_of(group, opts)
                summary.dropped_positives += selection.dropped_positives
                if not pairs:
                    continue
                summary.queries += 1
                _count_negatives(summary, pairs)
                for pair in pairs:
                    weights.append(pair.weight)
                    ipw_moments[0] += pair.ipw * pair.positive_events
                    ipw_moments[1] += pair.ipw_square_sum
                    summary.clipped_events += pair.clipped_events
                    summary.positive_events += pair.positive_events
                    if pair.negative_id is None:
                        summary.pairs_without_negative += 1
                if opts.layout == "sentence-transformers":
                    chooser = NegativeChooser(group, selection, opts)
                    self._write_resampled(out, chooser, pairs, group.totals, rng, texts, summary)
                else:
                    for pair in pairs:
                        out.write(pair.full_row(texts))
                done += len(pairs)
                if on_progress is not None:
                    on_progress(done, int(group.totals["candidate_positives"]))
            summary.rows = out.rows
        if ipw_moments[1] > 0:
            summary.ipw_effective_sample_size = ipw_moments[0] ** 2 / ipw_moments[1]
            summary.ipw_effective_sample_ratio = summary.ipw_effective_sample_size / max(
                summary.positive_events, 1
            )
        self._finish(summary, np.frombuffer(weights, dtype=np.float64), texts)
        return summary

    def _write_resampled(
        self,
        out: Output,
        chooser: NegativeChooser,
        pairs: list[TrainingPair],
        totals: dict[str, Any],
        rng: np.random.Generator,
        texts: TextLookup | None,
        summary: ExportSummary,
    ) -> None:
        """Poisson(rows x weight / total) copies of each triplet, each copy with the next
        eligible negative (or a fresh random one); pairs without any negative are left out."""
        positives = chooser.selection.positives
        if not any(p.negative_id is not None for p in pairs):
            return
        total_weight = float(totals["candidate_weight"]) or 1.0
        rows = self.options.st_rows or int(totals["candidate_positives"])
        copies = rng.poisson([rows * p.weight / total_weight for p in pairs])
        for pair, positive, count in zip(pairs, positives, copies, strict=True):
            if pair.negative_id is None:
                continue
            for _ in range(int(count)):
                drawn = chooser.draw(positive)
                if drawn is None:
                    continue
                anchor, positive_out, negative_out = pair.query, pair.positive_id, drawn.feature_id
                if texts is not None:
                    resolved_pos, resolved_neg = texts.get(positive_out), texts.get(negative_out)
                    if resolved_pos is None or resolved_neg is None:
                        summary.unresolved_texts += 1
                        continue
                    positive_out, negative_out = resolved_pos, resolved_neg
                out.write({"anchor": anchor, "positive": positive_out, "negative": negative_out})

    def _bias_source(self) -> str:
        if self.bias is None:
            return "none (ipw off)"
        return "prior" if all(p.source == "prior" for p in self.bias.positions) else "em"

    def _finish(
        self, summary: ExportSummary, weights: np.ndarray, texts: TextLookup | None
    ) -> None:
        opts = self.options
        summary.pairs = int(weights.size)
        summary.hard_negative_coverage = (
            1.0 - summary.pairs_without_negative / summary.pairs if summary.pairs else 0.0
        )
        summary.weights = weight_summary(weights)
        summary.effective_sample_size = effective_sample_size(weights)
        summary.effective_sample_ratio = (
            summary.effective_sample_size / weights.size if weights.size else 0.0
        )
        if self.bias is not None:
            summary.notes.extend(self.bias.notes)
        if summary.clipped_events:
            share = summary.clipped_events / max(summary.positive_events, 1)
            summary.notes.append(
                f"{summary.clipped_events} positive events ({share:.1%}) hit the weight clip "
                f"of {opts.clip:g}"
            )
        if summary.dropped_positives:
            summary.notes.append(
                f"{summary.dropped_positives} engaged (query, doc) pairs left out: their "
                f"position-debiased relevance is below {opts.positive_lift:g} x their query's"
            )
        if opts.layout == "sentence-transformers":
            if summary.pairs_without_negative:
                summary.notes.append(
                    f"{summary.pairs_without_negative} pairs have no hard negative for their "
                    "query and are left out of the sentence-transformers layout"
                )
            if texts is None:
                summary.notes.append("no --texts file: anchor is the query, documents are ids")
        if texts is not None and summary.unresolved_texts:
            summary.notes.append(
                f"{summary.unresolved_texts} rows skipped: a document id has no text"
            )


_SOURCE_FIELD: Final[dict[str, str]] = {
    "explicit": "explicit_negatives",
    "skip_above": "skip_above_negatives",
    "impression": "impression_negatives",
    "random": "random_negatives",
}


def _count_negatives(summary: ExportSummary, pairs: list[TrainingPair]) -> None:
    """Distinct negatives of one query, by source."""
    seen = {(p.negative_id, p.negative_source) for p in pairs if p.negative_source is not None}
    for _, source in seen:
        name = _SOURCE_FIELD[str(source)]
        setattr(summary, name, getattr(summary, name) + 1)
