"""Popularity: the Faust worker that keeps rolling counts in Redis, and the read side.

Only the read side is imported here, so rerankers get it without Faust:

    from stream_processors import PopularityReader, BoostConfig

The worker lives in `stream_processors.app` / `stream_processors.worker` (imports Faust).
"""

from stream_processors.boost import BoostConfig, boosted_score, multiplier, rerank
from stream_processors.models import BoostedCandidate, HistoryItem, TrendingItem
from stream_processors.reader import PopularityReader

__all__ = [
    "BoostConfig",
    "BoostedCandidate",
    "HistoryItem",
    "PopularityReader",
    "TrendingItem",
    "boosted_score",
    "multiplier",
    "rerank",
]
