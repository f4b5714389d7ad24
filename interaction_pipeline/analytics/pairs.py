"""What a training pair is, and how an export is asked for (`ExportOptions`).

The pairs themselves are chosen in `interaction_pipeline.analytics.selection` and written by
`interaction_pipeline.analytics.export`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import pyarrow as pa

from interaction_pipeline.analytics.bias import DEFAULT_CLIP
from interaction_pipeline.analytics.daterange import DateRange
from schemas.errors import InvalidArgumentError

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
