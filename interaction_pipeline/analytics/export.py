"""Training export: the seed's get_query_document_pairs, streamed to JSONL or Parquet.

What becomes a training example (the SQL in analytics/sql/training_pairs.sql decides roles):

* a positive is a (query, document) users engaged with at least `min_interactions` times and
  more often than they rejected it; its weight is the sum over its positive events of type
  strength (purchase > long_view > click, from schemas.interaction_types weights) times the
  clipped inverse propensity of the position it was clicked at;
* hard negatives for the same query are explicit negatives first (skip, negative_feedback,
  return_to_results outweighing engagement), then results shown above a clicked one and never
  engaged with for that query, at least `skip_margin` times: an unclicked impression alone is
  weak evidence (the user may never have looked), so a margin filters them;
* every (query, positive) appears once; each gets the next hard negative of its query in turn.

Inverse-propensity weighting is a measured choice, not a given (IPS-trained rankers scored
lower on the Baidu-ULTR logs than naive ones): weights are clipped, the effective sample size
is reported, and `ipw=False` turns the correction off (type strengths still apply).

The sentence-transformers layout has exactly the columns anchor, positive, negative (that
library matches columns by position and treats label/score columns as targets), and
MultipleNegativesRankingLoss takes no per-example weight, so there the weights are applied
by seeded resampling: each positive is written Poisson(rows x weight / total weight) times.

Rows stream from ClickHouse ordered by query, and only one query's rows are held at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import orjson
import pyarrow as pa

from interaction_pipeline.analytics._sql import QueryRunner
from interaction_pipeline.analytics._writers import Format, Output, format_for
from interaction_pipeline.analytics.bias import DEFAULT_CLIP, BiasEstimate, effective_sample_size
from interaction_pipeline.analytics.daterange import DateRange
from schemas.errors import InvalidArgumentError
from schemas.limits import MAX_RESULTS_PER_SEARCH

Layout = Literal["full", "sentence-transformers"]
NegativeSource = Literal["explicit", "skip_above"]

_ROLE_SOURCE: Final[dict[str, NegativeSource]] = {
    "explicit_negative": "explicit",
    "skip_negative": "skip_above",
}

FULL_SCHEMA: Final = pa.schema(
    [
        ("query", pa.string()),
        ("positive_id", pa.string()),
        ("positive_text", pa.string()),
        ("negative_id", pa.string()),
        ("negative_text", pa.string()),
        ("negative_source", pa.string()),
        ("weight", pa.float64()),
        ("strength", pa.float64()),
        ("ipw", pa.float64()),
        ("propensity", pa.float64()),
        ("mean_position", pa.float64()),
        ("positive_events", pa.int64()),
        ("conversions", pa.int64()),
        ("long_views", pa.int64()),
        ("negative_events", pa.int64()),
        ("clipped_events", pa.int64()),
    ]
)
"""Full layout: ids, texts (when resolved), position, counts, propensity and weight."""

ST_SCHEMA: Final = pa.schema(
    [("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string())]
)
"""sentence-transformers layout: exactly these columns, in this order."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    date_range: DateRange
    retriever: str | None = None
    min_interactions: int = 2
    skip_margin: int = 3
    ipw: bool = True
    clip: float = DEFAULT_CLIP
    layout: Layout = "full"
    seed: int = 0
    st_rows: int | None = None
    """Rows to draw in the sentence-transformers layout; None = one per positive."""

    def __post_init__(self) -> None:
        if self.min_interactions < 1:
            raise InvalidArgumentError(
                f"min_interactions: must be >= 1, got {self.min_interactions}"
            )
        if self.skip_margin < 1:
            raise InvalidArgumentError(f"skip_margin: must be >= 1, got {self.skip_margin}")
        if self.clip < 1:
            raise InvalidArgumentError(f"clip: must be >= 1 (weights are >= 1), got {self.clip}")
        if self.layout not in ("full", "sentence-transformers"):
            raise InvalidArgumentError(
                f"layout: must be full or sentence-transformers, got {self.layout}"
            )


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """One (query, positive document) with its chosen hard negative, if any."""

    query: str
    positive_id: str
    negative_id: str | None
    negative_source: NegativeSource | None
    weight: float
    strength: float
    ipw: float
    propensity: float
    mean_position: float | None
    positive_events: int
    conversions: int
    long_views: int
    negative_events: int
    clipped_events: int
    ipw_square_sum: float = 0.0
    """Sum of squared ipw over the positive events (for the effective sample size)."""
    positive_text: str | None = None
    """The positive document's text, when the caller resolved texts (fine-tuning needs them)."""
    negative_text: str | None = None

    def with_texts(self, texts: TextLookup) -> TrainingPair:
        """This pair with both documents' texts looked up."""
        negative = texts.get(self.negative_id) if self.negative_id is not None else None
        return replace(self, positive_text=texts.get(self.positive_id), negative_text=negative)

    def full_row(self, texts: TextLookup | None) -> dict[str, Any]:
        row = asdict(self.with_texts(texts) if texts else self)
        return {name: row[name] for name in FULL_SCHEMA.names}


class TextLookup:
    """feature_id -> text from a JSONL file of {"id": ..., "text": ...} (or "feature_id")."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = mapping

    @classmethod
    def from_jsonl(cls, path: Path) -> TextLookup:
        mapping: dict[str, str] = {}
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                    key = obj.get("id", obj.get("feature_id"))
                    text = obj["text"]
                except (orjson.JSONDecodeError, KeyError, AttributeError):
                    raise InvalidArgumentError(
                        f"{path}:{number}: expected a JSON object with id and text"
                    ) from None
                if not isinstance(key, str) or not isinstance(text, str):
                    raise InvalidArgumentError(f"{path}:{number}: id and text must be strings")
                mapping[key] = text
        return cls(mapping)

    def get(self, feature_id: str) -> str | None:
        return self._mapping.get(feature_id)

    def __len__(self) -> int:
        return len(self._mapping)


@dataclass(slots=True)
class ExportSummary:
    """What the export wrote and how the weights are spread (the IPW health check)."""

    path: str | None = None
    format: str | None = None
    layout: str = "full"
    ipw: bool = True
    clip: float = DEFAULT_CLIP
    bias_source: str = "none"
    queries: int = 0
    pairs: int = 0
    rows: int = 0
    explicit_negatives: int = 0
    skip_above_negatives: int = 0
    pairs_without_negative: int = 0
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


@dataclass(slots=True)
class _Group:
    query: str
    positives: list[dict[str, Any]] = field(default_factory=list)
    negatives: list[dict[str, Any]] = field(default_factory=list)


def _groups(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[_Group, dict[str, Any]]]:
    """Rows grouped by query (the SQL orders by query), with the first row's totals."""
    group: _Group | None = None
    totals: dict[str, Any] = {}
    for batch in batches:
        for row in batch.to_pylist():
            if group is None or row["query"] != group.query:
                if group is not None:
                    yield group, totals
                group = _Group(row["query"])
                totals = {
                    "total_weight": row["total_weight"],
                    "total_positives": row["total_positives"],
                }
            if row["role"] == "positive":
                group.positives.append(row)
            else:
                group.negatives.append(row)
    if group is not None:
        yield group, totals


def _pairs(group: _Group) -> Iterator[TrainingPair]:
    negatives = group.negatives
    for index, row in enumerate(group.positives):
        negative = negatives[index % len(negatives)] if negatives else None
        yield TrainingPair(
            query=group.query,
            positive_id=row["feature_id"],
            negative_id=negative["feature_id"] if negative else None,
            negative_source=_ROLE_SOURCE[negative["role"]] if negative else None,
            weight=float(row["weight"]),
            strength=float(row["strength"]),
            ipw=float(row["ipw"]),
            propensity=float(row["propensity"]),
            mean_position=row["mean_position"],
            positive_events=int(row["positive_events"]),
            conversions=int(row["conversions"]),
            long_views=int(row["long_views"]),
            negative_events=int(row["negative_events"]),
            clipped_events=int(row["clipped_events"]),
            ipw_square_sum=float(row["ipw_square_sum"]),
        )


ProgressFn = Callable[[int, int], None]
"""on_progress(pairs done, pairs in total)."""


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
            skip_margin=opts.skip_margin,
            clip=float(opts.clip),
            propensity=propensity_parameter(self.bias),
        )

    def pairs(self, on_progress: ProgressFn | None = None) -> Iterator[TrainingPair]:
        """Every (query, positive) pair with its hard negative, query by query."""
        done = 0
        for group, totals in self._groups():
            for pair in _pairs(group):
                yield pair
                done += 1
            if on_progress is not None:
                on_progress(done, int(totals["total_positives"]))

    def _groups(self) -> Iterator[tuple[_Group, dict[str, Any]]]:
        return _groups(self._batches())

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
        )
        schema = ST_SCHEMA if opts.layout == "sentence-transformers" else FULL_SCHEMA
        weights = array("d")
        ipw_moments = [0.0, 0.0]
        rng = np.random.default_rng(opts.seed)
        with Output(path, chosen, schema) as out:
            done = 0
            for group, totals in self._groups():
                summary.queries += 1
                summary.explicit_negatives += sum(
                    r["role"] == "explicit_negative" for r in group.negatives
                )
                summary.skip_above_negatives += sum(
                    r["role"] == "skip_negative" for r in group.negatives
                )
                pairs = list(_pairs(group))
                for pair in pairs:
                    weights.append(pair.weight)
                    ipw_moments[0] += pair.ipw * pair.positive_events
                    ipw_moments[1] += pair.ipw_square_sum
                    summary.clipped_events += pair.clipped_events
                    summary.positive_events += pair.positive_events
                    if pair.negative_id is None:
                        summary.pairs_without_negative += 1
                if opts.layout == "sentence-transformers":
                    self._write_resampled(out, group, pairs, totals, rng, texts, summary)
                else:
                    for pair in pairs:
                        out.write(pair.full_row(texts))
                done += len(pairs)
                if on_progress is not None:
                    on_progress(done, int(totals["total_positives"]))
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
        group: _Group,
        pairs: list[TrainingPair],
        totals: dict[str, Any],
        rng: np.random.Generator,
        texts: TextLookup | None,
        summary: ExportSummary,
    ) -> None:
        """Poisson(rows x weight / total) copies of each triplet, cycling the negatives."""
        negatives = group.negatives
        if not negatives or not pairs:
            return
        total_weight = float(totals["total_weight"]) or 1.0
        rows = self.options.st_rows or int(totals["total_positives"])
        copies = rng.poisson([rows * p.weight / total_weight for p in pairs])
        turn = 0
        for pair, count in zip(pairs, copies, strict=True):
            for _ in range(int(count)):
                negative = negatives[turn % len(negatives)]["feature_id"]
                turn += 1
                anchor, positive, negative_text = pair.query, pair.positive_id, negative
                if texts is not None:
                    resolved_pos, resolved_neg = texts.get(positive), texts.get(negative)
                    if resolved_pos is None or resolved_neg is None:
                        summary.unresolved_texts += 1
                        continue
                    positive, negative_text = resolved_pos, resolved_neg
                out.write({"anchor": anchor, "positive": positive, "negative": negative_text})

    def _bias_source(self) -> str:
        if self.bias is None:
            return "none (ipw off)"
        return "prior" if all(p.source == "prior" for p in self.bias.positions) else "em"

    def _finish(
        self, summary: ExportSummary, weights: np.ndarray, texts: TextLookup | None
    ) -> None:
        opts = self.options
        summary.pairs = int(weights.size)
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
