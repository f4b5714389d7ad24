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

import zlib
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
Negatives = Literal["hard", "random"]
NegativeSource = Literal["explicit", "skip_above", "impression", "random"]

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
        ("relevance", pa.float64()),
        ("negative_relevance", pa.float64()),
        ("examinations", pa.float64()),
        ("negative_examinations", pa.float64()),
    ]
)
"""Full layout: ids, texts (when resolved), position, counts, propensity and weight, then the
debiased relevance estimates and expected examinations of both documents (added last, so
readers of the earlier columns are unaffected)."""

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
    negatives: Negatives = "hard"
    """hard: explicit, skip-above, then impression negatives; random: one drawn uniformly
    (seeded) from the query's shown documents that are not positives (an ablation)."""
    prior_examinations: float = 3.0
    """Shrinkage: pseudo-examinations at the query's click rate added to every estimate, so
    a document seen twice and never clicked is not called irrelevant (0 = no shrinkage)."""
    positive_lift: float = 1.0
    """A positive's relevance must reach this multiple of its query's click rate per
    examination (0 = engagement counts alone decide)."""
    positive_min_examinations: float = 3.0
    """Below this many expected examinations the estimate is too thin to overrule the
    engagement counts: such a positive is kept whatever its relevance."""
    negative_lift: float = 0.7
    """An impression negative's relevance may be at most this multiple of the query's rate."""
    min_examinations: float = 1.5
    """Expected examinations (in units of position 0) an impression negative needs."""
    pair_margin: float = 0.6
    """A positive takes only negatives whose relevance is at most this multiple of its own."""

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
        if self.negatives not in ("hard", "random"):
            raise InvalidArgumentError(f"negatives: must be hard or random, got {self.negatives}")
        for name in (
            "prior_examinations",
            "positive_lift",
            "positive_min_examinations",
            "negative_lift",
            "min_examinations",
        ):
            if not getattr(self, name) >= 0:
                raise InvalidArgumentError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 < self.pair_margin <= 1:
            raise InvalidArgumentError(f"pair_margin: must be in (0, 1], got {self.pair_margin}")


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
    relevance: float | None = None
    """The positive's debiased relevance estimate (None without impressions)."""
    negative_relevance: float | None = None
    examinations: float = 0.0
    """The positive's expected examinations (sum of propensities over its impressions)."""
    negative_examinations: float | None = None

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


# -- selection: one query's rows -> positives and their negatives -----------------------------
@dataclass(slots=True)
class _Group:
    """One query's (query, document) rows as the SQL returns them, and their totals."""

    query: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


def _groups(batches: Iterator[pa.RecordBatch]) -> Iterator[_Group]:
    """Rows grouped by query (the SQL orders by query), with the first row's totals."""
    group: _Group | None = None
    for batch in batches:
        for row in batch.to_pylist():
            if group is None or row["query"] != group.query:
                if group is not None:
                    yield group
                group = _Group(
                    row["query"],
                    totals={
                        "candidate_weight": row["candidate_weight"],
                        "candidate_positives": row["candidate_positives"],
                    },
                )
            group.rows.append(row)
    if group is not None:
        yield group


def debiased_relevance(
    clicks: float, examinations: float, prior_rate: float, prior_examinations: float
) -> float | None:
    """The PBM relevance estimate clicks / examinations, shrunk toward `prior_rate` with
    `prior_examinations` pseudo-examinations; None without impressions."""
    if examinations <= 0:
        return None
    return (clicks + prior_examinations * prior_rate) / (examinations + prior_examinations)


@dataclass(frozen=True, slots=True)
class _Candidate:
    row: dict[str, Any]
    relevance: float | None
    source: NegativeSource | None = None

    @property
    def feature_id(self) -> str:
        return str(self.row["feature_id"])


@dataclass(slots=True)
class Selection:
    """One query's positives (by weight) and its ordered negative pool, and who may pair."""

    query: str
    positives: list[_Candidate]
    negatives: list[_Candidate]
    pair_margin: float
    min_examinations: float
    dropped_positives: int = 0
    _turn: int = 0

    def eligible(self, positive: _Candidate, negative: _Candidate) -> bool:
        """A negative must look clearly worse than the positive where both are estimated; an
        explicit or skip-above negative seen too little to estimate keeps its own evidence."""
        if positive.relevance is None or negative.relevance is None:
            return True
        if float(negative.row["examinations"] or 0.0) < self.min_examinations:
            return True
        return negative.relevance <= self.pair_margin * positive.relevance

    def next_negative(self, positive: _Candidate) -> _Candidate | None:
        """The next eligible negative in turn (explicit first), cycling through the pool."""
        pool = self.negatives
        for step in range(len(pool)):
            index = (self._turn + step) % len(pool)
            if self.eligible(positive, pool[index]):
                self._turn = index + 1
                return pool[index]
        return None


def select(group: _Group, options: ExportOptions) -> Selection:
    """Roles for one query's rows; see the module docstring for the rules."""
    rows = group.rows
    query_examinations = float(rows[0]["query_examinations"] or 0.0) if rows else 0.0
    prior = float(rows[0]["query_clicks"] or 0) / query_examinations if query_examinations else 0.0
    positives: list[_Candidate] = []
    explicit: list[_Candidate] = []
    skipped: list[_Candidate] = []
    impression: list[_Candidate] = []
    dropped = 0
    for row in rows:
        examinations = float(row["examinations"] or 0.0)
        relevance = debiased_relevance(
            float(row["clicks"] or 0), examinations, prior, options.prior_examinations
        )
        pos_n, neg_n = int(row["positive_events"]), int(row["negative_events"])
        if pos_n >= options.min_interactions and pos_n > neg_n:
            if (
                relevance is None
                or relevance >= options.positive_lift * prior
                or examinations < options.positive_min_examinations
            ):
                positives.append(_Candidate(row, relevance))
                continue
            dropped += 1
        if neg_n > 0 and neg_n >= pos_n:
            explicit.append(_Candidate(row, relevance, "explicit"))
        elif pos_n == 0 and int(row["skipped_above"] or 0) >= options.skip_margin:
            skipped.append(_Candidate(row, relevance, "skip_above"))
        elif (
            relevance is not None
            and examinations >= options.min_examinations
            and relevance <= options.negative_lift * prior
        ):
            impression.append(_Candidate(row, relevance, "impression"))
    positives.sort(key=lambda c: (-float(c.row["weight"]), c.feature_id))
    explicit.sort(key=lambda c: (-int(c.row["negative_events"]), _low(c), c.feature_id))
    skipped.sort(key=lambda c: (-int(c.row["skipped_above"]), _low(c), c.feature_id))
    impression.sort(key=lambda c: (_low(c), -float(c.row["examinations"]), c.feature_id))
    negatives = explicit + skipped + impression
    return Selection(
        group.query, positives, negatives, options.pair_margin, options.min_examinations, dropped
    )


def _low(candidate: _Candidate) -> float:
    return candidate.relevance if candidate.relevance is not None else float("inf")


def random_pool(group: _Group, selection: Selection) -> list[_Candidate]:
    """The query's shown documents that are not positives (the random-negative population)."""
    positive = {c.feature_id for c in selection.positives}
    return [
        _Candidate(row, None, "random")
        for row in group.rows
        if int(row["impressions"] or 0) > 0 and row["feature_id"] not in positive
    ]


def query_rng(seed: int, query: str) -> np.random.Generator:
    """One generator per (seed, query): a query's draws do not depend on the other queries."""
    return np.random.default_rng([seed, zlib.crc32(query.encode("utf-8"))])


def _pair(query: str, positive: _Candidate, negative: _Candidate | None) -> TrainingPair:
    row = positive.row
    return TrainingPair(
        query=query,
        positive_id=positive.feature_id,
        negative_id=negative.feature_id if negative else None,
        negative_source=negative.source if negative else None,
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
        relevance=positive.relevance,
        negative_relevance=negative.relevance if negative else None,
        examinations=float(row["examinations"] or 0.0),
        negative_examinations=float(negative.row["examinations"] or 0.0) if negative else None,
    )


class _Chooser:
    """Hands out one negative per draw for a query: the next eligible hard one, or a random
    shown non-positive (seeded per query)."""

    def __init__(self, group: _Group, selection: Selection, options: ExportOptions) -> None:
        self.selection = selection
        self.random = options.negatives == "random"
        self.pool = random_pool(group, selection) if self.random else selection.negatives
        self.rng = query_rng(options.seed, group.query) if self.random else None

    def draw(self, positive: _Candidate) -> _Candidate | None:
        if not self.random:
            return self.selection.next_negative(positive)
        if not self.pool or self.rng is None:
            return None
        return self.pool[int(self.rng.integers(len(self.pool)))]


def pairs_of(group: _Group, options: ExportOptions) -> tuple[Selection, list[TrainingPair]]:
    """One query's selection and its pairs, one per positive."""
    selection = select(group, options)
    chooser = _Chooser(group, selection, options)
    pairs = [_pair(group.query, p, chooser.draw(p)) for p in selection.positives]
    return selection, pairs


ProgressFn = Callable[[int, int], None]
"""on_progress(pairs done, candidate positives in total: an upper bound)."""


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
        for group in self._groups():
            _, pairs = pairs_of(group, self.options)
            yield from pairs
            done += len(pairs)
            if on_progress is not None:
                on_progress(done, int(group.totals["candidate_positives"]))

    def _groups(self) -> Iterator[_Group]:
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
            negatives=opts.negatives,
        )
        schema = ST_SCHEMA if opts.layout == "sentence-transformers" else FULL_SCHEMA
        weights = array("d")
        ipw_moments = [0.0, 0.0]
        rng = np.random.default_rng(opts.seed)
        with Output(path, chosen, schema) as out:
            done = 0
            for group in self._groups():
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
                    chooser = _Chooser(group, selection, opts)
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
        chooser: _Chooser,
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
