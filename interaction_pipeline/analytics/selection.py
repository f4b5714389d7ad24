"""Choosing training pairs for one query from its (query, document) rows.

A document's relevance is estimated position-debiased (clicks over expected examinations,
shrunk toward the query's own rate); positives are engaged documents the estimate does not
contradict, and each gets a hard negative in turn: explicit negatives first, then results
skipped above a click, then well-examined but unclicked impressions. `negatives="random"`
draws one instead (the ablation baseline). The SQL in sql/training_pairs.sql supplies the rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from interaction_pipeline.analytics.pairs import ExportOptions, NegativeSource, TrainingPair


@dataclass(slots=True)
class QueryRows:
    """One query's (query, document) rows as the SQL returns them, and their totals."""

    query: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


def group_by_query(batches: Iterator[pa.RecordBatch]) -> Iterator[QueryRows]:
    """Rows grouped by query (the SQL orders by query), with the first row's totals."""
    group: QueryRows | None = None
    for batch in batches:
        for row in batch.to_pylist():
            if group is None or row["query"] != group.query:
                if group is not None:
                    yield group
                group = QueryRows(
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
class Candidate:
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
    positives: list[Candidate]
    negatives: list[Candidate]
    pair_margin: float
    min_examinations: float
    dropped_positives: int = 0
    _turn: int = 0

    def eligible(self, positive: Candidate, negative: Candidate) -> bool:
        """A negative must look clearly worse than the positive where both are estimated; an
        explicit or skip-above negative seen too little to estimate keeps its own evidence."""
        if positive.relevance is None or negative.relevance is None:
            return True
        if float(negative.row["examinations"] or 0.0) < self.min_examinations:
            return True
        return negative.relevance <= self.pair_margin * positive.relevance

    def next_negative(self, positive: Candidate) -> Candidate | None:
        """The next eligible negative in turn (explicit first), cycling through the pool."""
        pool = self.negatives
        for step in range(len(pool)):
            index = (self._turn + step) % len(pool)
            if self.eligible(positive, pool[index]):
                self._turn = index + 1
                return pool[index]
        return None


def select(group: QueryRows, options: ExportOptions) -> Selection:
    """Roles for one query's rows; see the module docstring for the rules."""
    rows = group.rows
    query_examinations = float(rows[0]["query_examinations"] or 0.0) if rows else 0.0
    prior = float(rows[0]["query_clicks"] or 0) / query_examinations if query_examinations else 0.0
    positives: list[Candidate] = []
    explicit: list[Candidate] = []
    skipped: list[Candidate] = []
    impression: list[Candidate] = []
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
                positives.append(Candidate(row, relevance))
                continue
            dropped += 1
        if neg_n > 0 and neg_n >= pos_n:
            explicit.append(Candidate(row, relevance, "explicit"))
        elif pos_n == 0 and int(row["skipped_above"] or 0) >= options.skip_margin:
            skipped.append(Candidate(row, relevance, "skip_above"))
        elif (
            relevance is not None
            and examinations >= options.min_examinations
            and relevance <= options.negative_lift * prior
        ):
            impression.append(Candidate(row, relevance, "impression"))
    positives.sort(key=lambda c: (-float(c.row["weight"]), c.feature_id))
    explicit.sort(key=lambda c: (-int(c.row["negative_events"]), _low(c), c.feature_id))
    skipped.sort(key=lambda c: (-int(c.row["skipped_above"]), _low(c), c.feature_id))
    impression.sort(key=lambda c: (_low(c), -float(c.row["examinations"]), c.feature_id))
    negatives = explicit + skipped + impression
    return Selection(
        group.query, positives, negatives, options.pair_margin, options.min_examinations, dropped
    )


def _low(candidate: Candidate) -> float:
    return candidate.relevance if candidate.relevance is not None else float("inf")


def random_pool(group: QueryRows, selection: Selection) -> list[Candidate]:
    """The query's shown documents that are not positives (the random-negative population)."""
    positive = {c.feature_id for c in selection.positives}
    return [
        Candidate(row, None, "random")
        for row in group.rows
        if int(row["impressions"] or 0) > 0 and row["feature_id"] not in positive
    ]


def query_rng(seed: int, query: str) -> np.random.Generator:
    """One generator per (seed, query): a query's draws do not depend on the other queries."""
    return np.random.default_rng([seed, zlib.crc32(query.encode("utf-8"))])


def _pair(query: str, positive: Candidate, negative: Candidate | None) -> TrainingPair:
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


class NegativeChooser:
    """Hands out one negative per draw for a query: the next eligible hard one, or a random
    shown non-positive (seeded per query)."""

    def __init__(self, group: QueryRows, selection: Selection, options: ExportOptions) -> None:
        self.selection = selection
        self.random = options.negatives == "random"
        self.pool = random_pool(group, selection) if self.random else selection.negatives
        self.rng = query_rng(options.seed, group.query) if self.random else None

    def draw(self, positive: Candidate) -> Candidate | None:
        if not self.random:
            return self.selection.next_negative(positive)
        if not self.pool or self.rng is None:
            return None
        return self.pool[int(self.rng.integers(len(self.pool)))]


def pairs_of(group: QueryRows, options: ExportOptions) -> tuple[Selection, list[TrainingPair]]:
    """One query's selection and its pairs, one per positive."""
    selection = select(group, options)
    chooser = NegativeChooser(group, selection, options)
    pairs = [_pair(group.query, p, chooser.draw(p)) for p in selection.positives]
    return selection, pairs
