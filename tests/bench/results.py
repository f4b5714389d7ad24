"""Where the benchmarks record their figures: benchmarks/results/<bench>.jsonl, one JSON line
per run (interaction_pipeline.results has the format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interaction_pipeline.results import append_result

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def record(name: str, figures: dict[str, Any], *, load_before: list[float] | None = None) -> Path:
    """Append this run's figures; returns the results file."""
    path = append_result(
        RESULTS_DIR / f"{name}.jsonl", name, figures, load_before=load_before, checkout=REPO_ROOT
    )
    print(f"recorded in {path.relative_to(REPO_ROOT)}")
    return path
