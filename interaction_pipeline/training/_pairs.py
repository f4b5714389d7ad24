"""Training pairs: (query, positive, optional hard negative, weight), from rows or files.

The project's export writes rows with ``query, positive_id, positive_text, negative_id,
negative_text, weight`` (and more keys, ignored here); the same shape is accepted as dicts,
objects with those attributes, JSONL or Parquet files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interaction_pipeline.training.errors import MissingDependencyError, TrainingDataError

PairSource = str | Path | Iterable[Any]
"""A JSONL/Parquet path, or an iterable of dicts, TrainingPair or objects with those fields."""


@dataclass(frozen=True)
class TrainingPair:
    """One supervised example; ids are optional but let in-batch negatives skip true positives."""

    query: str
    positive_text: str
    positive_id: str | None = None
    negative_text: str | None = None
    negative_id: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class PairStats:
    """Counts the model card reports."""

    pairs: int
    with_hard_negative: int
    queries: int
    total_weight: float

    @property
    def without_hard_negative(self) -> int:
        """Pairs that learn from in-batch negatives only."""
        return self.pairs - self.with_hard_negative


def read_pairs(source: PairSource) -> list[TrainingPair]:
    """Load pairs; errors name the row and the field. Zero-weight pairs are dropped."""
    if isinstance(source, str | Path):
        rows: Iterable[tuple[str, Any]] = _file_rows(Path(source))
    else:
        rows = ((f"row {i}", row) for i, row in enumerate(source))
    pairs = [p for where, row in rows if (p := _pair(row, where)).weight > 0]
    if not pairs:
        raise TrainingDataError(f"no training pairs with weight > 0 in {_describe(source)}")
    return pairs


def pair_stats(pairs: Iterable[TrainingPair]) -> PairStats:
    """Pair, hard-negative and query counts, and the total weight."""
    items = list(pairs)
    return PairStats(
        pairs=len(items),
        with_hard_negative=sum(p.negative_text is not None for p in items),
        queries=len({p.query for p in items}),
        total_weight=float(sum(p.weight for p in items)),
    )


def _pair(row: Any, where: str) -> TrainingPair:
    if isinstance(row, TrainingPair):
        pair = row
    else:

        def get(key: str) -> Any:
            return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)

        query = get("query")
        positive = get("positive_text") if get("positive_text") is not None else get("positive")
        negative = get("negative_text") if get("negative_text") is not None else get("negative")
        weight = get("weight")
        for field_name, value in (("query", query), ("positive_text", positive)):
            if not isinstance(value, str) or not value.strip():
                hint = (
                    " (pairs from analytics carry document texts only when they are resolved: "
                    "get_query_document_pairs(..., texts={feature_id: text}) or "
                    "`interactions export-training --texts corpus.jsonl`)"
                    if field_name == "positive_text" and get("positive_id") is not None
                    else ""
                )
                raise TrainingDataError(f"{where}: {field_name}: must be a non-empty string{hint}")
        pair = TrainingPair(
            query=str(query),
            positive_text=str(positive),
            positive_id=_optional_str(get("positive_id")),
            negative_text=_optional_str(negative) or None,
            negative_id=_optional_str(get("negative_id")),
            weight=_weight(weight, where),
        )
    if not math.isfinite(pair.weight) or pair.weight < 0:
        raise TrainingDataError(f"{where}: weight: must be finite and >= 0, got {pair.weight}")
    return pair


def _weight(value: Any, where: str) -> float:
    if value is None:
        return 1.0
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TrainingDataError(f"{where}: weight: must be a number, got {value!r}") from exc


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _file_rows(path: Path) -> Iterator[tuple[str, Any]]:
    if not path.is_file():
        raise TrainingDataError(f"{path}: file not found")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingDependencyError(
                "reading Parquet needs pyarrow: pip install pyarrow"
            ) from exc
        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path} row {i}", row
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            yield f"{path}:{number}", row


def _describe(source: PairSource) -> str:
    return str(source) if isinstance(source, str | Path) else "the given rows"
