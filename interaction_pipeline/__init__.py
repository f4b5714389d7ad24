"""interaction-pipeline: the seed's Python API at the root.

    from interaction_pipeline import analytics, interactions, training

    previous = interactions.list(user_id="user_123", interaction_type=["purchase"], days=90)
    pairs = analytics.get_query_document_pairs(date_range="last_30_days", min_interactions=2)
    model = training.fine_tune(base_model="all-MiniLM-L6-v2", training_data=pairs)

Module-level calls read the settings from the environment once; `configure(settings)` sets
them in code. The submodules load on first use, so `import interaction_pipeline` stays cheap.
The parts underneath keep their own packages: `producers` (SDK), `stream_processors`
(popularity), `sinks` (ClickHouse), `schemas` (contracts and settings).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from interaction_pipeline._context import configure

if TYPE_CHECKING:
    from interaction_pipeline import analytics, interactions, training, users

__all__ = ["analytics", "configure", "interactions", "training", "users"]

_LAZY = {"analytics", "interactions", "training", "users"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"interaction_pipeline.{name}")
    raise AttributeError(f"module 'interaction_pipeline' has no attribute {name!r}")
