"""Training pairs for one seed and one variant, read from what ClickHouse holds.

Three variants share one bias estimate and one date range (the seed's training window):
``full`` (position-bias correction on, the export's hard negatives), ``no_ipw`` (the
correction off) and ``random_negatives`` (the hard negative replaced by a random document).
The last uses the export's own option when it has one (``ExportOptions(negatives="random")``)
and otherwise draws a uniformly random corpus document that is not a positive of the query, so
the ablation runs on any version of the analytics package; the report says which was used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from interaction_pipeline.analytics import Analytics, BiasEstimate, DateRange, ExportOptions
from interaction_pipeline.training import TrainingPair

Variant = Literal["full", "no_ipw", "random_negatives"]
VARIANTS: Final[tuple[Variant, ...]] = ("full", "no_ipw", "random_negatives")

EXPORT_RANDOM: Final = "export option negatives='random'"
FALLBACK_RANDOM: Final = "lift fallback: a uniformly random corpus document per pair"


def export_has_random_negatives() -> bool:
    """Whether this analytics version can draw random negatives itself."""
    return "negatives" in {f.name for f in dataclasses.fields(ExportOptions)}


def normalise_query(text: str) -> str:
    """The export's query key (lowerUTF8(trimBoth(query)) in training_pairs.sql)."""
    return text.strip().lower()


@dataclass(frozen=True, slots=True)
class PairSet:
    """A variant's pairs, ready for fine_tune, and what they are made of."""

    variant: Variant
    pairs: list[TrainingPair]
    stats: dict[str, Any]


def export_pairs(
    analytics: Analytics,
    variant: Variant,
    *,
    date_range: DateRange,
    retriever_id: str,
    min_interactions: int,
    bias: BiasEstimate,
    texts: Mapping[str, str],
    allowed_queries: Iterable[str],
    seed: int,
) -> PairSet:
    """Pairs of the training window; a pair whose query was not given traffic is an error."""
    rows: list[Any]
    random_source = None
    if variant == "random_negatives" and export_has_random_negatives():
        random: dict[str, Any] = {"negatives": "random"}
        options = ExportOptions(
            date_range,
            retriever=retriever_id,
            min_interactions=min_interactions,
            ipw=True,
            seed=seed,
            **random,
        )
        rows = list(analytics.exporter(options, bias).pairs())
        random_source = EXPORT_RANDOM
    else:
        rows = list(
            analytics.get_query_document_pairs(
                date_range,
                min_interactions,
                retriever_id=retriever_id,
                ipw=variant != "no_ipw",
                bias=bias,
            )
        )
        if variant == "random_negatives":
            rows = _random_negatives(rows, sorted(texts), seed)
            random_source = FALLBACK_RANDOM
    allowed = {normalise_query(q) for q in allowed_queries}
    leaked = sorted({r.query for r in rows} - allowed)
    if leaked:
        raise RuntimeError(
            f"{len(leaked)} exported queries never got training traffic (first: {leaked[0]!r}): "
            "the date range or the retriever tag let other traffic in"
        )
    pairs = [p for r in rows if (p := _training_pair(r, texts)) is not None]
    stats: dict[str, Any] = {
        "pairs": len(pairs),
        "queries": len({p.query for p in pairs}),
        "with_negative": sum(p.negative_text is not None for p in pairs),
        "negative_sources": _count(getattr(r, "negative_source", None) for r in rows),
        "unresolved_texts": len(rows) - len(pairs),
    }
    if random_source is not None:
        stats["random_negatives"] = random_source
    return PairSet(variant, pairs, stats)


def _training_pair(row: Any, texts: Mapping[str, str]) -> TrainingPair | None:
    positive = texts.get(row.positive_id)
    if positive is None:
        return None
    negative_id = row.negative_id
    negative = texts.get(negative_id) if negative_id is not None else None
    return TrainingPair(
        query=row.query,
        positive_text=positive,
        positive_id=row.positive_id,
        negative_text=negative,
        negative_id=negative_id if negative is not None else None,
        weight=float(row.weight),
    )


def _random_negatives(rows: list[Any], corpus_ids: Sequence[str], seed: int) -> list[Any]:
    """Each pair's negative replaced by a random document that is not a positive of its query."""
    rng = np.random.default_rng([seed, 29])
    positives: dict[str, set[str]] = {}
    for row in rows:
        positives.setdefault(row.query, set()).add(row.positive_id)
    out = []
    for row in rows:
        taken = positives[row.query]
        if len(taken) >= len(corpus_ids):
            out.append(dataclasses.replace(row, negative_id=None, negative_source=None))
            continue
        while (doc := corpus_ids[int(rng.integers(len(corpus_ids)))]) in taken:
            pass
        out.append(dataclasses.replace(row, negative_id=doc, negative_source="random"))
    return out


def _count(values: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        key = value or "none"
        counts[key] = counts.get(key, 0) + 1
    return counts
