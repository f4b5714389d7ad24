"""What the read side returns: small frozen dataclasses that orjson/FastAPI serialise as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BoostedCandidate:
    feature_id: str
    score: float
    """The retriever's score, as given."""
    boosted_score: float
    multiplier: float
    weighted_count: float
    counts: dict[str, int] = field(default_factory=dict)
    """Count per configured type in the window."""


@dataclass(frozen=True, slots=True)
class TrendingItem:
    rank: int
    feature_id: str
    score: float
    """The count of the type in the window, or the weighted score."""


@dataclass(frozen=True, slots=True)
class HistoryItem:
    feature_id: str
    interaction_type: str
    timestamp: datetime
    """Event time of the user's latest interaction of this type with this feature."""
